"""fetch_model from a fresh clone: by stage, version and rev, through the loopback S3 remote.

What `stackseg infer --stage/--version/--rev` runs on another machine: a git clone (tags
included) and the DVC remote, nothing else from the machine that trained and registered.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from devtools.s3server import start_server
from stackseg.config import load_config
from stackseg.registry import fetch
from stackseg.registry.fetch import FetchError, ModelRef, fetch_model
from stackseg.registry.tags import RegistryError
from tests.conftest import run
from tests.registry.conftest import copy_of
from tests.remote.helpers import dvc, git, point_at, s3_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def registered(registrable, s3, tmp_path_factory) -> Path:
    """A copy of the project whose model was pushed and registered to prod by the CLI."""
    root = copy_of(registrable, tmp_path_factory.mktemp("registered") / "proj", s3)
    dvc(["push", "models/model.keras"], root, s3_env(s3))
    proc = run(["stackseg", "register", "--stage", "prod"], root, env=s3_env(s3))
    assert "registered segmenter v0.1.0" in proc.stdout
    assert "assigned segmenter v0.1.0 to prod: tag segmenter#prod#" in proc.stdout
    return root


def test_fresh_clone_fetches_by_stage_version_and_rev_then_reuses_the_cache(
    registered, s3, tmp_path, monkeypatch, capsys
):
    clone = tmp_path / "clone"
    git(["clone", "-q", str(registered), str(clone)], tmp_path)
    point_at(clone, s3.endpoint)
    for key, value in s3.client_env().items():
        monkeypatch.setenv(key, value)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the cache (params paths.model_cache) is relative to it
    cfg = load_config(clone / "params.yaml")
    commit = git(["rev-parse", "HEAD"], registered).strip()

    got = fetch_model(ModelRef(stage="prod"), cfg, repo=str(clone))
    assert (got.commit, got.version, got.stage) == (commit, "v0.1.0", "prod")
    assert got.keras == Path(cfg.paths.model_cache) / commit / "model.keras"
    assert got.keras.read_bytes() == (registered / "models/model.keras").read_bytes()
    assert got.card.read_bytes() == (registered / "models/model.json").read_bytes()
    assert got.onnx is None  # this project never exported
    assert not list(got.keras.parent.parent.glob(".*"))  # no temporary folder left
    # the download showed its progress (plain lines off a terminal), model + card bytes
    size = got.keras.stat().st_size + got.card.stat().st_size
    assert f"fetch stage prod: {size}/{size} bytes (100%)" in capsys.readouterr().err

    # the same commit again, by version and by rev: from the cache, nothing downloaded
    def no_download(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(fetch, "_download", no_download)
    by_version = fetch_model(ModelRef(version="v0.1.0"), cfg, repo=str(clone))
    assert (by_version.keras, by_version.version, by_version.stage) == (got.keras, "v0.1.0", None)
    by_rev = fetch_model(ModelRef(rev=commit[:10]), cfg, repo=str(clone))
    assert (by_rev.commit, by_rev.version) == (commit, "v0.1.0")

    # DVC's own `dvc artifacts get` reads the same tags and remote (docs/registry.md)
    out = tmp_path / "artifact.keras"
    env = s3_env(s3)
    dvc(
        ["artifacts", "get", str(clone), "segmenter", "--stage", "prod", "-o", str(out)],
        tmp_path,
        env,
    )
    assert out.read_bytes() == got.keras.read_bytes()

    with pytest.raises(RegistryError, match=r"no version v9.9.9 \(versions: v0.1.0\)"):
        fetch_model(ModelRef(version="v9.9.9"), cfg, repo=str(clone))
    with pytest.raises(RegistryError, match="no version of segmenter is in stage staging"):
        fetch_model(ModelRef(stage="staging"), cfg, repo=str(clone))
    with pytest.raises(FetchError, match="cannot open .* at no-such-rev"):
        fetch_model(ModelRef(rev="no-such-rev"), cfg, repo=str(clone))
    with pytest.raises(FetchError, match="give one of"):
        ModelRef(stage="prod", version="v0.1.0")


def test_fetch_names_the_file_missing_from_the_remote_and_a_refused_remote(
    registered, tmp_path, monkeypatch
):
    clone = tmp_path / "clone"
    git(["clone", "-q", str(registered), str(clone)], tmp_path)
    empty = start_server("nanio", data_dir=tmp_path / "empty", output=subprocess.DEVNULL)
    try:
        point_at(clone, empty.endpoint)
        for key, value in empty.client_env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        cfg = load_config(clone / "params.yaml")
        with pytest.raises(
            FetchError, match=r"models/model.keras of stage prod .* not in the DVC remote"
        ):
            fetch_model(ModelRef(stage="prod"), cfg, repo=str(clone))
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        with pytest.raises(FetchError, match="the DVC remote failed: .*check the remote"):
            fetch_model(ModelRef(stage="prod"), cfg, repo=str(clone))
        assert not (tmp_path / cfg.paths.model_cache).exists() or not any(
            (tmp_path / cfg.paths.model_cache).iterdir()
        )
    finally:
        empty.stop()


def test_models_lists_versions_stages_and_that_commits_metrics(registered, trained):
    commit = git(["rev-parse", "HEAD"], registered).strip()
    proc = run(["stackseg", "models", "--json"], registered)
    [listed] = json.loads(proc.stdout)
    metrics = trained.metrics()
    assert (listed["version"], listed["stages"], listed["commit"]) == ("v0.1.0", ["prod"], commit)
    assert listed["metrics"] == {
        "mean.iou": metrics["mean"]["iou"],
        **{f"per_class.{c}.iou": metrics["per_class"][c]["iou"] for c in trained.classes},
        "baseline.mean.iou": metrics["baseline"]["mean"]["iou"],
    }
    # read from the version's commit, not the workspace: a later edit does not show
    (registered / "metrics" / "evaluate.json").write_text("{}")
    try:
        table = run(["stackseg", "models"], registered).stdout.splitlines()
    finally:
        git(["checkout", "-q", "metrics/evaluate.json"], registered)
    assert table[0].split()[:4] == ["version", "stages", "commit", "registered"]
    row = table[1].split()
    assert row[:3] == ["v0.1.0", "prod", commit[:7]]
    assert row[5] == f"{metrics['mean']['iou']:.4f}"


def test_infer_from_a_fresh_clone_by_stage_and_by_picking(registered, trained, s3, tmp_path):
    """`stackseg infer --stage prod` and `--interactive` on another machine: a git clone and
    the DVC remote only; the masks equal those of the model file it was trained as."""
    clone = tmp_path / "clone"
    git(["clone", "-q", str(registered), str(clone)], tmp_path)
    point_at(clone, s3.endpoint)
    env = s3_env(s3)
    frame = sorted((trained.path("prepared") / "test").rglob("*.jpg"))[0]
    local = tmp_path / "local"
    run(
        ["stackseg", "infer", str(frame), "--out", str(local), "--backend", "keras"]
        + ["--model", str(registered / "models/model.keras")],
        registered,
        env=env,
    )
    by_stage = tmp_path / "by-stage"
    run(
        ["stackseg", "infer", str(frame), "--out", str(by_stage), "--backend", "keras"]
        + ["--stage", "prod"],
        clone,
        env=env,
    )
    name = f"{frame.stem}.mask.tif"
    assert (by_stage / name).read_bytes() == (local / name).read_bytes()
    sidecar = json.loads((by_stage / f"{frame.stem}.infer.json").read_text())
    commit = git(["rev-parse", "HEAD"], registered).strip()
    assert (sidecar["model"]["stage"], sidecar["model"]["version"]) == ("prod", "v0.1.0")
    assert sidecar["model"]["commit"] == commit
    # this project never exported: the default backend says what to do, in one line
    proc = run(
        ["stackseg", "infer", str(frame), "--out", str(tmp_path / "o")] + ["--stage", "prod"],
        clone,
        env=env,
        check=False,
    )
    assert proc.returncode == 3
    assert proc.stderr.strip().endswith(
        "not found (that commit has no export stage); run `dvc repro export` or use --backend keras"
    ), proc.stderr

    # the picker lists v0.1.0 with its stage and metrics; "1" on stdin picks it
    picked = tmp_path / "picked"
    proc = subprocess.run(
        ["stackseg", "infer", str(frame), "--out", str(picked), "--backend", "keras"]
        + ["--interactive"],
        cwd=clone,
        env=env,
        input="7\n1\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "v0.1.0 [prod]" in proc.stderr and "not a choice: '7'" in proc.stderr
    assert (picked / name).read_bytes() == (local / name).read_bytes()
