"""`stackseg select`: ranking `dvc exp show --json` by a metric, and `--apply`.

The shape comes from DVC itself: two experiments made with `dvc exp save` (no training:
each saves the workspace as it is, with a metrics value written for the test) on a copy
of the trained project; the unit tests use a minimal dict of the same shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stackseg.config import load_config
from stackseg.errors import ConfigError
from stackseg.registry import select
from stackseg.registry.choices import model_choices
from tests.conftest import run
from tests.registry.conftest import copy_of
from tests.remote.helpers import dvc, git, s3_env

METRICS = "metrics/evaluate.json"


def entry(rev: str, name: str | None, iou: float, lr: float, experiments=None) -> dict:
    return {
        "rev": rev,
        "name": name,
        "data": {
            "rev": rev,
            "params": {"params.yaml": {"data": {"train": {"learning_rate": lr, "epochs": 40}}}},
            "metrics": {METRICS: {"data": {"mean": {"iou": iou}, "frames": 16}}},
        },
        "error": None,
        "experiments": experiments,
    }


def shown() -> list[dict]:
    experiments = [
        {"name": "fast", "revs": [entry("b" * 40, "fast", 0.91, 0.01)]},
        {"name": "slow", "revs": [entry("c" * 40, "slow", 0.70, 0.001)]},
        {"name": "broken", "revs": [{**entry("d" * 40, "broken", 0.0, 0.1), "error": "x"}]},
    ]
    return [
        entry("workspace", None, 0.86, 0.005),
        entry("a" * 40, "main", 0.86, 0.005, experiments),
    ]


def test_runs_are_flattened_and_ranked_both_ways():
    runs = select.runs_of(shown())
    assert [(r.name, r.kind) for r in runs] == [
        ("workspace", "workspace"),
        ("main", "baseline"),
        ("fast", "experiment"),
        ("slow", "experiment"),
    ]  # the run with an error is left out
    metric = select.resolve_metric("mean.iou", runs)
    assert metric == f"{METRICS}:mean.iou"
    assert [r.name for r in select.rank(runs, metric)] == ["fast", "workspace", "main", "slow"]
    assert select.rank(runs, metric, lowest=True)[0].name == "slow"
    assert select.winner_to_apply(select.rank(runs, metric)).name == "fast"
    assert select.winner_to_apply(select.rank(runs, metric, lowest=True)).name == "slow"
    table = select.table(select.rank(runs, metric), metric).splitlines()
    assert table[0].split() == ["#", "name", "kind", "rev", "mean.iou", "train.learning_rate"]
    assert table[1].split() == ["1", "fast", "experiment", "bbbbbbb", "0.91", "0.01"]


def test_a_best_run_that_is_not_an_experiment_has_nothing_to_apply():
    runs = select.runs_of(shown())
    ranked = select.rank(runs, f"{METRICS}:frames")
    assert select.winner_to_apply([r for r in ranked if r.kind != "experiment"]) is None


def test_unknown_metric_lists_the_available_keys():
    runs = select.runs_of(shown())
    with pytest.raises(ConfigError) as error:
        select.resolve_metric("iou", runs)
    assert error.value.problems == [
        f"no metric 'iou' in `dvc exp show`; available: {METRICS}:frames, {METRICS}:mean.iou"
    ]
    assert select.resolve_metric(f"{METRICS}:frames", runs) == f"{METRICS}:frames"


def save_experiment(root: Path, name: str, iou: float, learning_rate: float) -> None:
    """`dvc exp save` of the workspace with mean.iou and train.learning_rate set; reset."""
    metrics = json.loads((root / METRICS).read_text())
    metrics["mean"]["iou"] = iou
    (root / METRICS).write_text(json.dumps(metrics, indent=2))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["learning_rate"] = learning_rate
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(["exp", "save", "-n", name], root, s3_env(None))
    git(["checkout", "-q", "--", "."], root)


@pytest.mark.slow
def test_select_ranks_real_experiments_and_applies_the_best(registrable, tmp_path):
    root = copy_of(registrable, tmp_path / "proj")
    save_experiment(root, "lr-high", 0.97, 0.01)
    save_experiment(root, "lr-low", 0.5, 0.001)

    # what `stackseg infer --interactive` offers: no version registered, two experiments
    choices = model_choices(load_config(root / "params.yaml"), str(root))
    assert sorted((c.ref.rev, c.metrics["mean.iou"]) for c in choices) == [
        ("lr-high", 0.97),
        ("lr-low", 0.5),
    ]
    assert all(c.label.startswith(f"experiment {c.ref.rev} ") for c in choices)
    assert {c.label.split()[-1] for c in choices} == {"0.9700", "0.5000"}

    proc = run(["stackseg", "select", "--metric", "mean.iou", "--apply"], root)
    lines = proc.stdout.splitlines()
    assert lines[0] == f"4 runs by {METRICS}:mean.iou (highest first)"
    assert lines[1].split()[:5] == ["#", "name", "kind", "rev", "mean.iou"]
    assert "train.learning_rate" in lines[1]
    assert [line.split()[1] for line in lines[2:6]] == ["lr-high", "workspace", "main", "lr-low"]
    assert lines[-1].startswith("applied lr-high")
    # dvc exp apply restored the experiment's params and metrics into the workspace
    assert yaml.safe_load((root / "params.yaml").read_text())["train"]["learning_rate"] == 0.01
    assert json.loads((root / METRICS).read_text())["mean"]["iou"] == 0.97

    proc = run(["stackseg", "select", "--metric", "nope", "--min", "--top", "1"], root, check=False)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith("stackseg select: error: no metric 'nope' in `dvc exp show`; available:")
    assert f"{METRICS}:mean.iou" in line
