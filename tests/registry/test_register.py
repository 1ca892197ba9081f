"""`stackseg register`: the refusals, the gate, the manual override, promotion.

One copy of the registrable project walks through a model's life (each step needs the
previous one's tags); the steps call register_model in-process (no CLI start-up) except
where the command's own output and exit code are the point.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stackseg.config import load_config
from stackseg.errors import ConfigError
from stackseg.registry import tags as registry_tags
from stackseg.registry.register import GateRefused, Request, register_model
from stackseg.registry.workspace import DirtyWorkspaceError, NotInRemoteError
from tests.conftest import run
from tests.registry.conftest import copy_of, tag_message, tags
from tests.remote.helpers import dvc, git, s3_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def register(root: Path, lines: list[str] | None = None, **request):
    cfg = load_config(root / "params.yaml")
    say = lines.append if lines is not None else (lambda line: None)
    return register_model(cfg, root, Request(**request), say=say)


def cli(root: Path, s3, *args: str):
    return run(["stackseg", "register", *args], root, check=False, env=s3_env(s3))


def set_params(root: Path, message: str, **registry) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["registry"].update(registry)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(["commit", "-q", "-am", message], root)


def test_dirty_workspace_is_refused_by_git_then_by_dvc(registrable, s3, tmp_path):
    root = copy_of(registrable, tmp_path / "proj", s3)
    params = root / "params.yaml"
    params.write_text(params.read_text() + "\n# an uncommitted edit\n")
    proc = cli(root, s3)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "stackseg register: error: the workspace has uncommitted changes (params.yaml): "
        "commit or stash them first; a registered version must be exactly its commit"
    ]
    git(["checkout", "-q", "params.yaml"], root)
    # git sees nothing (the model is DVC's, git-ignored) but dvc.lock no longer matches it
    model = root / "models" / "model.keras"
    model.unlink()  # a link into the cache: replace it, never write through it
    model.write_bytes(b"not the model dvc.lock records")
    with pytest.raises(DirtyWorkspaceError, match=r"dvc.lock does not match.*train"):
        register(root)
    assert tags(root) == []


def test_a_models_life_not_in_remote_push_register_promote_override(
    registrable, s3, tmp_path, monkeypatch
):
    for key, value in s3.client_env().items():
        monkeypatch.setenv(key, value)
    root = copy_of(registrable, tmp_path / "proj", s3)

    # 1. the model of dvc.lock is not in the remote yet: refused, nothing tagged
    with pytest.raises(NotInRemoteError, match=r"models/model.keras: not in the DVC remote"):
        register(root, stage="dev")
    assert tags(root) == []
    # a remote that refuses the credentials cannot say: one line, nothing tagged
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(NotInRemoteError, match="cannot check the DVC remote: .*credentials"):
        register(root, stage="dev")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.client_env()["AWS_SECRET_ACCESS_KEY"])
    assert tags(root) == []

    # 2. pushed: registered (first version v0.1.0) and assigned dev; the gate in the message
    dvc(["push", "models/model.keras"], root, s3_env(s3))
    lines: list[str] = []
    outcome = register(root, lines, stage="dev")
    assert outcome.version == "v0.1.0" and not outcome.promoted_only
    assert outcome.tags == ["segmenter@v0.1.0", "segmenter#dev#1"]
    assert sorted(tags(root)) == ["segmenter#dev#1", "segmenter@v0.1.0"]
    assert any(line.strip().startswith("mean.iou 0.") and line.endswith(": ok") for line in lines)
    message = tag_message(root, "segmenter@v0.1.0")
    assert "gate passed" in message and "per_class.streak.iou" in message
    assert "manual" not in message

    # 3. the same commit again: refused without --stage; promoted to prod with it
    with pytest.raises(registry_tags.RegistryError, match="already registered as segmenter v0.1.0"):
        register(root)
    promoted = register(root, stage="prod")
    assert promoted.promoted_only and promoted.version == "v0.1.0"
    assert [t for t in tags(root) if "#prod#" in t] == promoted.tags
    assert registry_tags.in_stage(str(root), "segmenter", "prod").version == "v0.1.0"

    # 4. a new commit may not reuse an existing version
    git(["commit", "-q", "--allow-empty", "-m", "docs only"], root)
    with pytest.raises(registry_tags.RegistryError, match=r"segmenter v0.1.0 already exists"):
        register(root, version="v0.1.0")

    # 5. bounds raised above the metrics: refused, one line per failed check, exit 1
    set_params(root, "stricter gate", min_test_iou=0.99, min_class_iou=0.97)
    with pytest.raises(GateRefused) as refused:
        register(root)
    problems = refused.value.problems
    assert problems[0].startswith("gate: mean.iou 0.") and problems[0].endswith("< 0.9900: FAILED")
    assert sum(p.startswith("gate: per_class.") for p in problems) == 3
    assert "--manual --reason" in problems[-1]
    proc = cli(root, s3)
    assert proc.returncode == 1
    assert "stackseg register: error: gate: mean.iou" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "mean.iou - baseline.mean.iou" in proc.stdout  # every check printed, passed too

    # 6. --manual needs a reason (exit 2); with one it registers and records both
    proc = cli(root, s3, "--manual")
    assert proc.returncode == 2 and "--manual needs --reason" in proc.stderr
    with pytest.raises(ConfigError):
        register(root, manual=True, reason="  ")
    reason = "field trial needs it before the next training run"
    outcome = register(root, manual=True, reason=reason, bump="minor")
    assert outcome.version == "v0.2.0"
    message = tag_message(root, "segmenter@v0.2.0")
    assert "gate MANUAL OVERRIDE" in message
    assert f"manual: {reason}" in message
    assert "failed checks: mean.iou 0." in message and "< 0.9900: FAILED" in message


def test_register_without_a_remote_says_so(registrable, tmp_path):
    root = copy_of(registrable, tmp_path / "proj")
    from dvc.config import Config

    with Config(dvc_dir=str(root / ".dvc")).edit("repo") as conf:
        del conf["core"]["remote"]
    git(["commit", "-q", "-am", "no default remote"], root)
    with pytest.raises(NotInRemoteError, match="no default DVC remote"):
        register(root)


def test_an_artifact_dvc_yaml_does_not_declare_is_refused(registrable, tmp_path):
    root = copy_of(registrable, tmp_path / "proj")
    set_params(root, "renamed artifact", artifact="other")
    with pytest.raises(ConfigError, match="dvc.yaml: no artifact 'other' under `artifacts:`"):
        register(root)
    assert tags(root) == []
