"""`stackseg noise` as a command: its seeds, the cached-only path, refused arguments."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from stackseg.commands import noise as command
from stackseg.errors import ConfigError, StacksegError
from stackseg.report.noise import LOCAL_DIR, NoiseEstimate
from tests.conftest import run, tiny_params
from tests.report.standin import commit_all


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    from dvc.repo import Repo

    path = tmp_path / "proj"
    path.mkdir()
    (path / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], path)
    run(["git", "config", "user.email", "tests@stackseg.invalid"], path)
    run(["git", "config", "user.name", "stackseg tests"], path)
    Repo.init(str(path)).close()
    commit = commit_all(path, "params")
    monkeypatch.chdir(path)
    return path, commit


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params.yaml")
    command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_seeds_follow_the_params_seed_and_skip_it():
    assert command.seed_list(42, 3) == [43, 44, 45]


def test_cached_only_prints_the_estimate_or_says_how_to_make_one(project, capsys):
    path, commit = project
    with pytest.raises(StacksegError, match=r"no noise estimate for `HEAD` .*local only"):
        command.run(args("--cached-only"))
    classes = tiny_params()["classes"]
    keys = ["mean.iou", *[f"per_class.{name}.iou" for name in classes]]
    estimate = NoiseEstimate(commit, (43, 44, 45), {key: (0.80, 0.82, 0.84) for key in keys}, "cpu")
    (path / LOCAL_DIR).mkdir(parents=True)
    (path / LOCAL_DIR / f"{commit}.json").write_text(json.dumps(estimate.to_json()))
    command.run(args("--cached-only", "--base", "main"))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"noise at {commit[:8]}: 3 seeds [43, 44, 45] (cached in ")
    assert out[1].split() == [
        "mean.iou", "mean", "0.8200", "std", "0.0200", "min", "0.8000", "max", "0.8400"
    ]  # fmt: skip
    assert len(out) == 1 + len(keys)


def test_the_varied_param_must_be_an_integer_param(project):
    path, _ = project
    assert command.param_value(path / "params.yaml", "seed") == tiny_params()["seed"]
    assert command.param_value(path / "params.yaml", "synth.seed") == tiny_params()["synth"]["seed"]
    with pytest.raises(ConfigError, match="`train.loss`, which is not an integer param"):
        command.param_value(path / "params.yaml", "train.loss")


def test_fewer_than_two_seeds_is_refused(project):
    with pytest.raises(ConfigError, match="--seeds 1: need at least 2 runs"):
        command.run(args("--seeds", "1"))
