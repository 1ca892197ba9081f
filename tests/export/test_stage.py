"""The export stage on the session's trained project: `dvc repro export` (module fixture
`exported`), the ONNX file against Keras, its bytes run to run, and the refusals."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import yaml

from stackseg.cli import main
from stackseg.contracts import read_card, read_manifest
from tests.conftest import run


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _params(root) -> dict:
    return yaml.safe_load((root / "params.yaml").read_text())


@pytest.mark.slow
def test_repro_writes_the_model_and_parity_metrics(exported):
    params = _params(exported)
    onnx_path = exported / params["paths"]["onnx"]
    document = json.loads((exported / params["paths"]["export_metrics"]).read_text())
    manifest = read_manifest(exported / params["paths"]["prepared"], params["classes"])
    test = manifest.split_pairs("test")
    parity = document["parity"]
    assert parity["frames"] == len(test) > 0
    assert parity["pixels"] == sum(pair.height * pair.width for pair in test)
    assert 0.0 <= parity["max_abs_diff"] <= params["export"]["max_abs_diff"]
    assert parity["mask_pixels_differing"] == 0
    allowed = params["export"]["max_abs_diff"]
    assert parity["tolerance_used"] == pytest.approx(parity["max_abs_diff"] / allowed, rel=1e-2)
    assert document["onnx"] == {
        "opset": params["export"]["opset"],
        "megabytes": round(onnx_path.stat().st_size / 1e6, 3),
    }
    # DVC recorded the stage (the file's md5 in dvc.lock) and shows its metrics
    lock = yaml.safe_load((exported / "dvc.lock").read_text())
    outs = {out["path"]: out for out in lock["stages"]["export"]["outs"]}
    assert outs[params["paths"]["onnx"]]["md5"] == _md5(onnx_path)
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], exported).stdout)
    assert shown[""]["data"][params["paths"]["export_metrics"]]["data"] == document
    assert "up to date" in run(["dvc", "status", "export"], exported).stdout


@pytest.mark.slow
def test_export_is_byte_identical_run_to_run(exported, tmp_path):
    """Two more exports in this process give the bytes `dvc repro export` wrote in its own."""
    from stackseg.config import load_config
    from stackseg.export import onnx, stage
    from stackseg.models import load_model
    from stackseg.train.portable import portable_math

    cfg = load_config(exported / "params.yaml")
    model = load_model(exported / cfg.paths.model)
    card = read_card(exported / cfg.paths.model_card, cfg.classes)
    written = (exported / cfg.paths.onnx).read_bytes()
    for name in ("first.onnx", "second.onnx"):
        with portable_math(cfg.train):  # as `stackseg export` converts (batch norm's constants)
            onnx.export_onnx(model, tmp_path / name, cfg.export.opset, card.input.size_multiple)
        again = onnx.normalised_bytes(tmp_path / name, stage.card_metadata(card))
        assert again == written, name


@pytest.mark.slow
def test_onnx_takes_other_frame_sizes_and_agrees_with_keras(exported):
    """One file serves every frame size: 56 x 40 (multiples of the size multiple, not the
    training size 48) as is, and 50 x 37 through predict_frames' padding."""
    from stackseg.models import to_model_input
    from stackseg.predict import predict_frames
    from stackseg.runtime import KerasBackend, OnnxBackend

    params = _params(exported)
    card = read_card(exported / params["paths"]["model_card"], params["classes"])
    multiple = card.input.size_multiple
    assert 56 % multiple == 0 and 40 % multiple == 0 and card.input.train_size != 56
    keras_model = KerasBackend.load(exported / params["paths"]["model"])
    onnx_model = OnnxBackend(exported / params["paths"]["onnx"])
    assert onnx_model.session.get_inputs()[0].shape == ["batch", "height", "width", 1]
    rng = np.random.default_rng(7)
    for height, width in ((56, 40), (50, 37)):
        frames = [(i, rng.integers(0, 256, (height, width, 1), dtype=np.uint8)) for i in range(3)]
        ours = list(predict_frames(keras_model, frames, to_model_input, multiple, 3))
        theirs = list(predict_frames(onnx_model, frames, to_model_input, multiple, 3))
        for (_, _, a), (_, _, b) in zip(ours, theirs, strict=True):
            assert a.shape == b.shape == (height, width, len(params["classes"]))
            assert np.max(np.abs(a - b)) <= params["export"]["max_abs_diff"]
            threshold = card.output.threshold_array()
            assert np.array_equal(a >= threshold, b >= threshold)


@pytest.mark.slow
def test_parity_failure_is_one_line_and_writes_nothing(trained, tmp_path, monkeypatch, capsys):
    root = tmp_path / "proj"
    shutil.copytree(trained.root, root, symlinks=True)
    params = _params(root)
    params["export"]["max_abs_diff"] = 1e-12  # no float32 conversion is that exact
    # fast: in this process, portable mode would pin TensorFlow's variables for later tests
    params["train"]["reproducibility"] = "fast"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(root)
    assert main(["export"]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "Traceback" not in err
    assert errors[0].startswith(
        "stackseg export: error: models/model.onnx: parity with models/model.keras fails: "
        "max |ONNX - Keras| "
    )
    assert "(allowed 1e-12, worst frame " in errors[0] and "nothing written" in errors[0]
    assert not (root / "models" / "model.onnx").exists()
    assert not (root / "metrics" / "export.json").exists()
    # no temporary file left beside either target
    assert not [p.name for p in (root / "models").iterdir() if p.name.startswith(".")]
    assert not [p.name for p in (root / "metrics").iterdir() if p.name.startswith(".")]


def test_conversion_failure_is_one_line_naming_layer_and_remedy():
    from stackseg.export.stage import conversion_problem

    class TraceError(TypeError):  # what Keras raises (OperatorNotAllowedInGraphError)
        pass

    keras_message = (
        "Exception encountered when calling UpSampling2D.call().\n\n"
        "\x1b[1mUsing a symbolic `tf.Tensor` as a Python `bool` is not allowed. You can "
        "attempt the following\x1b[0m\n\nArguments received by UpSampling2D.call():"
    )
    assert conversion_problem(TraceError(keras_message)) == (
        " in UpSampling2D: Using a symbolic `tf.Tensor` as a Python `bool` is not allowed; "
        "Keras cannot trace bilinear upsampling with a dynamic frame size; train with "
        "train.upsampling: transpose"
    )
    assert conversion_problem(ValueError("Unsupported ops: Counter({'Foo': 1})")) == (
        ": Unsupported ops: Counter({'Foo': 1})"
    )
    assert conversion_problem(RuntimeError()) == ": RuntimeError"


@pytest.mark.slow
def test_bilinear_unet_cannot_be_exported_and_says_so(tmp_path):
    """Keras 3.15 cannot trace UpSampling2D(bilinear) at a dynamic size (measured): the stage
    says which layer and what to do, in one line."""
    from stackseg.errors import StacksegError
    from stackseg.export import stage
    from stackseg.models import build_model
    from tests.conftest import train_config
    from tests.fixtures import make_card

    model = build_model(train_config(upsampling="bilinear", depth=1, base_filters=2), 2, 1)
    card = make_card(["a", "b"], size_multiple=2)
    with pytest.raises(StacksegError) as info:
        stage.convert(model, card, tmp_path / "m.onnx", 17, tmp_path / "model.keras")
    (line,) = info.value.problems
    assert line.startswith(f"{tmp_path / 'model.keras'}: ONNX conversion at opset 17 failed in ")
    assert line.endswith("train with train.upsampling: transpose")
