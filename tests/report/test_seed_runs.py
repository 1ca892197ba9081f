"""Driving DVC's experiment queue for the seeded runs: a real `dvc exp` queue on a fake stage.

The stage takes no time: its "evaluate metrics" are an exact function of the `seed` param,
so the test can check every run went through with its own seed, and that the experiments
are gone afterwards. No training.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stackseg.errors import StacksegError
from stackseg.report.seed_runs import check_workspace, collect, experiment_name, run_seeds
from stackseg.report.verdict import headline_metrics
from tests.conftest import run
from tests.report.standin import commit_all

STAGE = """
import json, os, yaml
params = yaml.safe_load(open("params.yaml"))
seed = params["seed"]
os.makedirs("metrics", exist_ok=True)
per_class = {c: {"iou": 0.8 + seed / 1000 + k / 100} for k, c in enumerate(params["classes"])}
json.dump({"mean": {"iou": 0.9 + seed / 1000}, "per_class": per_class}, open("metrics/evaluate.json", "w"))
"""

HEADS = headline_metrics(["a", "b"])


def expected(seed: int) -> dict[str, float]:
    return {
        "mean.iou": 0.9 + seed / 1000,
        "per_class.a.iou": 0.8 + seed / 1000,
        "per_class.b.iou": 0.81 + seed / 1000,
    }


@pytest.fixture
def fake_repo(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "proj"
    path.mkdir()
    (path / "stage.py").write_text(STAGE.lstrip())
    (path / "params.yaml").write_text(yaml.safe_dump({"seed": 42, "classes": ["a", "b"]}))
    stage = {
        "cmd": "python stage.py",
        "deps": ["stage.py"],
        "params": ["seed", "classes"],
        "metrics": [{"metrics/evaluate.json": {"cache": False}}],
    }
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"evaluate": stage}}))
    run(["git", "init", "-q", "-b", "main"], path)
    run(["git", "config", "user.email", "tests@stackseg.invalid"], path)
    run(["git", "config", "user.name", "stackseg tests"], path)
    run(["dvc", "init", "-q"], path)
    run(["dvc", "repro", "-q"], path)
    return path, commit_all(path, "fake pipeline")


@pytest.mark.slow
def test_queued_seeded_runs_give_each_seeds_metrics_and_leave_no_experiments(fake_repo):
    path, commit = fake_repo
    found = run_seeds(path, commit, [1, 2], "metrics/evaluate.json", HEADS)
    assert set(found) == {1, 2}
    for seed, values in found.items():
        assert values == pytest.approx(expected(seed)), seed
    # DVC keeps experiments as git refs (refs/exps/...): none left (a git call, not a dvc one)
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], path).stdout
    assert "noise-" not in refs, refs
    # the workspace is left as it was: the base's own run (seed 42)
    metrics = json.loads((path / "metrics/evaluate.json").read_text())
    assert metrics["mean"]["iou"] == pytest.approx(0.942)


def test_workspace_must_be_the_clean_base_commit(tmp_path):
    path = tmp_path / "proj"  # plain git: the check needs no DVC
    path.mkdir()
    (path / "params.yaml").write_text(yaml.safe_dump({"seed": 42, "classes": ["a", "b"]}))
    run(["git", "init", "-q", "-b", "main"], path)
    run(["git", "config", "user.email", "tests@stackseg.invalid"], path)
    run(["git", "config", "user.name", "stackseg tests"], path)
    commit = commit_all(path, "params")
    check_workspace(path, commit)
    with pytest.raises(StacksegError, match=r"the workspace is at \w{8}, not the base 00000000"):
        check_workspace(path, "0" * 40)
    (path / "params.yaml").write_text(yaml.safe_dump({"seed": 7, "classes": ["a", "b"]}))
    with pytest.raises(StacksegError, match="tracked files differ .*params.yaml.*git stash"):
        check_workspace(path, commit)


def test_collect_reads_only_the_named_experiments_of_the_base():
    def exp(name: str, iou: float) -> dict:
        data = {"metrics": {"m.json": {"data": {"mean": {"iou": iou}}}}}
        return {"name": name, "revs": [{"name": name, "data": data}]}

    show = [
        {"rev": "workspace", "experiments": None},
        {"rev": "c1", "experiments": [exp("noise-c1-s1", 0.5), exp("mine", 0.1)]},
        {"rev": "c0", "experiments": [exp("noise-c1-s2", 0.9)]},  # another baseline
    ]
    names = {experiment_name("c1", 1): 1, "noise-c1-s2": 2}
    assert experiment_name("c1" + "0" * 38, 3) == "noise-c1000000-s3"
    assert collect(show, "c1", names, "m.json", ["mean.iou", "per_class.a.iou"]) == {
        1: {"mean.iou": 0.5, "per_class.a.iou": None}
    }
