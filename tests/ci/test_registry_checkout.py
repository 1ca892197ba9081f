"""Every checkout in the workflows fetches the whole history: the registry is git tags.

actions/checkout fetches one commit and no tags by default; GTO (`stackseg models`,
`stackseg register --stage`, `dvc artifacts get --stage`) then finds no version at all.
"""

from __future__ import annotations

from pathlib import Path

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def checkouts(workflow: dict) -> list[dict]:
    return [
        step
        for job in workflow.get("jobs", {}).values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("actions/checkout@")
    ]


def test_every_checkout_fetches_tags_and_history():
    found = 0
    for path in sorted(WORKFLOWS.glob("*.y*ml")):
        for step in checkouts(yaml.safe_load(path.read_text())):
            found += 1
            assert (step.get("with") or {}).get("fetch-depth") == 0, (
                f"{path.name}: actions/checkout needs `fetch-depth: 0` (registry tags)"
            )
    assert found >= 3  # ci.yml, cml.yml, main-remote-check.yml
