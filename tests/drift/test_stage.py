"""The reference and drift stages and `stackseg drift` on the session's trained project: the
unshifted test split is not flagged, a brighter synth set is (--fail-on-drift exits 1 with
one line), and bad input is one line naming the file."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from stackseg import cli
from stackseg.drift import build_reference, load_reference, profile_frames
from tests.conftest import ROOT, run


@pytest.fixture(scope="module")
def project(trained, model_dir, tmp_path_factory):
    """A copy of the trained project (never modify the shared one) with its reference,
    built with the session's ONNX export (onnxruntime starts in a second, TensorFlow not)."""
    root = tmp_path_factory.mktemp("drift") / "proj"
    shutil.copytree(trained.root, root, symlinks=True)
    shutil.copy(model_dir / "model.onnx", root / "models/model.onnx")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["drift"]["bootstrap"] = 50  # the minimum: calibration is not what is tested here
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["stackseg", "drift", "--build", "--backend", "onnx"], root)
    return root


@pytest.mark.slow
def test_the_reference_holds_the_training_split_and_the_test_predictions(project, trained):
    reference = load_reference(project / "models/reference.json")
    manifest = json.loads((project / "data/prepared/manifest.json").read_text())
    train = [pair for pair in manifest["pairs"] if pair["split"] == "train"]
    assert reference.images.frames == len(train)
    assert reference.images.groups is not None
    assert len(set(reference.images.groups.tolist())) == len({pair["stack"] for pair in train})
    assert reference.outputs is not None
    assert {f"fraction_{name}" for name in trained.classes} | {"confidence"} == set(
        reference.outputs.features
    )
    assert 0.5 <= reference.outputs.features["confidence"].min() <= 1.0
    assert "fraction_disc.ks" in reference.thresholds


@pytest.mark.slow
def test_the_test_split_is_not_flagged(project):
    proc = run(["stackseg", "drift", "--split", "test", "--fail-on-drift"], project)
    assert "no drift" in proc.stdout
    metrics = json.loads((project / "metrics/drift.json").read_text())
    assert metrics["drift"] is False and metrics["drifted"] == []
    assert {"histogram.kl", "mean.ks", "noise.wasserstein"} <= set(metrics["metrics"])
    for name in ("histogram.json", "scores.json", "histogram.png", "scores.png"):
        assert (project / "plots/drift" / name).stat().st_size > 0


@pytest.mark.slow
def test_a_brighter_set_is_flagged(project, tmp_path):
    shifted = tmp_path / "shifted"
    run(
        ["stackseg", "synth", "--out", str(shifted), "--seed", "9", "--shift-brightness", "60"],
        project,
    )
    proc = run(
        [
            "stackseg",
            "drift",
            str(shifted / "images"),
            "--out",
            str(tmp_path / "out"),
            "--fail-on-drift",
        ],
        project,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("stackseg drift: error: drift in ")
    assert "mean." in lines[-1] or "histogram." in lines[-1]
    metrics = json.loads((tmp_path / "out/drift.json").read_text())
    assert metrics["drift"] is True and "mean.wasserstein" in metrics["drifted"]


def test_bad_input_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, size=(8, 8), dtype=np.uint8) for _ in range(4)]
    build_reference(profile_frames(frames, 32), 32, 0.01, 50, 0, show=False).save("ref.json")

    def error(argv: list[str], code: int) -> str:
        assert cli.main(argv) == code
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("stackseg drift: error: ")
        return lines[0]

    assert "models/reference.json: no drift reference" in error(["drift", "x.png"], 3)
    assert "notes.txt: not a readable drift reference" in error(
        ["drift", "--reference", "notes.txt", "x.png"], 3
    )
    assert "broken.png: not a readable PNG" in error(
        ["drift", "--reference", "ref.json", "broken.png"], 3
    )
    assert "notes.txt: not an image file" in error(
        ["drift", "--reference", "ref.json", "notes.txt"], 3
    )
    assert "give INPUT files or folders, or --split" in error(["drift"], 2)
    assert not (tmp_path / "metrics").exists()  # nothing written
