"""`stackseg infer` end to end (in-process CLI) on the session's trained model: a file, a
folder and a stack give evaluate's own masks; backends agree; bad input is one line, exit 3,
and leaves nothing behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tifffile

from stackseg.cli import main
from stackseg.contracts import write_card
from stackseg.errors import ConfigError, InputDataError
from tests.infer.conftest import evaluate_probabilities, prepared_image, write_params

pytestmark = pytest.mark.slow


def infer(params_file, model_dir, *args: str) -> int:
    return main(
        ["infer", "--params", str(params_file), "--model", str(model_dir / "model.keras"), *args]
    )


def expected_masks(keras_model, card, images):
    probs = evaluate_probabilities(keras_model, card, images)
    return [np.where(p >= card.output.threshold_array(), 255, 0).astype(np.uint8) for p in probs]


def test_a_file_and_a_folder_give_evaluates_masks(
    trained, model_dir, keras_model, card, test_pairs, params_file, tmp_path
):
    pairs = test_pairs[:3]
    folder = tmp_path / "images"
    folder.mkdir()
    for pair in pairs:
        shutil.copy(trained.path("prepared") / pair.image, folder / f"{pair.name}.jpg")
    (folder / "notes.txt").write_text("not an image: skipped")
    expected = expected_masks(keras_model, card, [prepared_image(trained, p) for p in pairs])

    out = tmp_path / "one"
    assert (
        infer(
            params_file,
            model_dir,
            str(folder / f"{pairs[0].name}.jpg"),
            "--out",
            str(out),
            "--backend",
            "keras",
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        f"{pairs[0].name}.infer.json",
        f"{pairs[0].name}.mask.tif",
    ]
    # a one-frame input gives a one-frame stack
    got = tifffile.imread(out / f"{pairs[0].name}.mask.tif")
    assert got.shape == (1, 48, 48, 3)
    np.testing.assert_array_equal(got[0], expected[0])

    out = tmp_path / "folder"
    assert infer(params_file, model_dir, str(folder), "--out", str(out)) == 0  # onnx default
    for pair, mask in zip(pairs, expected, strict=True):
        got = tifffile.imread(out / f"{pair.name}.mask.tif")
        assert got.shape == (1, 48, 48, 3) and got.dtype == np.uint8
        np.testing.assert_array_equal(got[0], mask)


@pytest.fixture
def test_stack(trained, test_pairs, tmp_path):
    """A 4-frame TIFF stack of one test stack's prepared jpgs (the pixels evaluate saw)."""
    stack = test_pairs[0].stack
    pairs = [p for p in test_pairs if p.stack == stack]
    images = [prepared_image(trained, p) for p in pairs]
    path = tmp_path / "inputs" / f"{stack}.tif"
    path.parent.mkdir()
    tifffile.imwrite(
        path, np.stack([i[..., 0] for i in images]), compression="zlib", photometric="minisblack"
    )
    return path, images


def test_a_stack_gives_evaluates_masks_with_both_backends_and_the_sidecar(
    test_stack, model_dir, keras_model, card, params_file, tmp_path
):
    path, images = test_stack
    expected = np.stack(expected_masks(keras_model, card, images))
    masks = {}
    for backend in ("onnx", "keras"):
        out = tmp_path / backend
        args = [str(path), "--out", str(out), "--backend", backend, "--png", "--overlays"]
        assert infer(params_file, model_dir, *args) == 0
        masks[backend] = tifffile.imread(out / f"{path.stem}.mask.tif")
        assert masks[backend].shape == (len(images), 48, 48, 3)
        np.testing.assert_array_equal(masks[backend], expected, err_msg=backend)
        pngs = sorted((out / f"{path.stem}.masks").iterdir())
        assert [p.name for p in pngs] == [f"{path.stem}_f{i:04d}.png" for i in range(len(images))]
        assert len(list((out / f"{path.stem}.overlays").iterdir())) == len(images)
    sidecar = json.loads((tmp_path / "onnx" / f"{path.stem}.infer.json").read_text())
    assert sidecar["format"] == "stackseg-infer/1"
    assert sidecar["backend"] == "onnx" and sidecar["thresholds"] == card.output.thresholds
    assert sidecar["frames"] == len(images) and sidecar["classes"] == card.classes
    assert sidecar["input"]["dtype"] == "uint8" and sidecar["input"]["frames"] == len(images)
    assert sidecar["input"]["scaling"] == {"source_dtype": "uint8", "method": "none"}
    assert len(sidecar["input"]["xxh3_128"]) == 32
    assert sidecar["lineage"] == card.lineage.model_dump(mode="json")
    assert sidecar["model"]["onnx"].endswith("model.onnx")
    assert sidecar["outputs"]["mask"] == f"{path.stem}.mask.tif"


def test_each_class_is_cut_at_its_cards_own_threshold(
    test_stack, model_dir, keras_model, card, params_file, tmp_path
):
    """A card with a threshold per class (train.threshold auto) changes each class's mask
    as those thresholds say, and only as they say."""
    path, images = test_stack
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(model_dir / "model.keras", folder / "model.keras")
    thresholds = [0.05, 0.5, 0.95]
    output = card.output.model_copy(
        update={"thresholds": thresholds, "threshold_rule": "auto on val (f1)"}
    )
    write_card(card.model_copy(update={"output": output}), folder / "model.json")
    out = tmp_path / "out"
    assert infer(params_file, folder, str(path), "--out", str(out), "--backend", "keras") == 0
    masks = tifffile.imread(out / f"{path.stem}.mask.tif")
    probs = np.stack(evaluate_probabilities(keras_model, card, images))
    expected = np.where(probs >= np.array(thresholds, np.float32), 255, 0).astype(np.uint8)
    np.testing.assert_array_equal(masks, expected)
    at_half = np.where(probs >= np.float32(0.5), 255, 0)
    changed = (expected != at_half).reshape(-1, 3).any(axis=0)
    assert changed.tolist() == [True, False, True], "the model gives no probability to move"
    sidecar = json.loads((out / f"{path.stem}.infer.json").read_text())
    assert sidecar["thresholds"] == thresholds


def test_index_format_and_float16_probabilities(
    test_stack, model_dir, keras_model, card, params_file, tmp_path
):
    path, images = test_stack
    out = tmp_path / "out"
    args = [
        str(path),
        "--out",
        str(out),
        "--format",
        "index",
        "--probabilities",
        "--backend",
        "keras",
    ]
    assert infer(params_file, model_dir, *args) == 0
    index = tifffile.imread(out / f"{path.stem}.mask.tif")
    probs = tifffile.imread(out / f"{path.stem}.prob.tif")
    assert index.shape == (len(images), 48, 48) and probs.dtype == np.float16
    expected = np.stack(evaluate_probabilities(keras_model, card, images))
    np.testing.assert_allclose(probs, expected, atol=1e-3)  # float16: 11 bits
    above = expected >= card.output.threshold_array()
    assert np.array_equal(index == 0, ~above.any(-1))
    chosen = index[above.any(-1)] - 1
    assert np.array_equal(chosen, np.argmax(np.where(above, expected, -1), -1)[above.any(-1)])


def test_a_damaged_stack_is_one_line_exit_3_and_nothing_written(
    test_stack, model_dir, params_file, tmp_path, capsys
):
    path, _ = test_stack
    damaged = tmp_path / "damaged.tif"
    data = path.read_bytes()
    damaged.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out"
    assert (
        infer(params_file, model_dir, str(damaged), "--out", str(out)) == InputDataError.exit_code
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"stackseg infer: error: {damaged}: ")
    assert "truncated" in err[0]
    assert list(out.iterdir()) == []


def test_a_frame_that_fails_mid_stack_leaves_the_previous_outputs(
    test_stack, model_dir, params_file, tmp_path, capsys
):
    path, images = test_stack
    out = tmp_path / "out"
    assert infer(params_file, model_dir, str(path), "--out", str(out), "--png") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    # frame 2's compressed strip is garbled: the metadata is intact, decoding fails there
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[2].dataoffsets[0]
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    capsys.readouterr()
    assert infer(params_file, model_dir, str(path), "--out", str(out), "--png") == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path}: frame 2: cannot decode" in err[0], err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_wrong_channels_and_a_missing_onnx_are_one_line(
    trained, test_pairs, model_dir, params_file, tmp_path, capsys
):
    import cv2

    rgb = tmp_path / "rgb.png"
    cv2.imwrite(str(rgb), np.zeros((48, 48, 3), np.uint8))
    out = tmp_path / "out"
    assert infer(params_file, model_dir, str(rgb), "--out", str(out)) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"stackseg infer: error: {rgb}: RGB frames (3 channel(s)), the model takes 1-channel "
        "images; convert the input (or use a model trained on such images)"
    ]
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(model_dir / "model.keras", alone)
    shutil.copy(model_dir / "model.json", alone)
    image = str(trained.path("prepared") / test_pairs[0].image)
    code = main(
        [
            "infer",
            "--params",
            str(params_file),
            "--model",
            str(alone / "model.keras"),
            image,
            "--out",
            str(out),
        ]
    )
    assert code == 3
    err = capsys.readouterr().err.strip()
    assert err.endswith("model.onnx: not found; run `dvc repro export` or use --backend keras")
    assert not out.exists() or list(out.iterdir()) == []
    assert (
        main(["infer", "--params", str(params_file), image, "--out", str(out), "--batch-size", "0"])
        == ConfigError.exit_code
    )


def test_frames_over_the_budget_are_tiled(trained, test_pairs, model_dir, params_file, tmp_path):
    import cv2

    images = [prepared_image(trained, pair) for pair in test_pairs[:4]]
    mosaic = np.concatenate([np.concatenate(images[:2], 1), np.concatenate(images[2:], 1)], 0)
    path = tmp_path / "mosaic.png"
    cv2.imwrite(str(path), mosaic[..., 0])
    write_params(params_file, max_frame_pixels=4096, tile_size=64, tile_overlap=16)
    out = tmp_path / "out"
    assert infer(params_file, model_dir, str(path), "--out", str(out), "--backend", "keras") == 0
    sidecar = json.loads((out / "mosaic.infer.json").read_text())
    assert sidecar["tiles"] == {"tile_size": 64, "tile_overlap": 16}
    assert tifffile.imread(out / "mosaic.mask.tif").shape == (1, 96, 96, 3)


def test_a_stack_streams_one_batch_ahead_at_most(
    test_stack, model_dir, params_file, tmp_path, monkeypatch
):
    """Frames are read as the model needs them: when frame i is written, at most one batch
    of frames past it has been read (a 490-frame stack is never in memory at once)."""
    from stackseg.infer import outputs, sources

    path, images = test_stack
    long = tmp_path / "long.tif"
    tifffile.imwrite(long, np.stack([i[..., 0] for i in images * 5]), photometric="minisblack")
    reads: list[int] = []
    ahead: list[int] = []
    read_frame, per_frame = sources.read_frame, outputs.InputOutputs._per_frame

    def counting_read(path, reader, index):
        reads.append(index)
        return read_frame(path, reader, index)

    def checking_write(self, index, *rest):
        ahead.append(len(reads) - (index + 1))
        return per_frame(self, index, *rest)

    monkeypatch.setattr(sources, "read_frame", counting_read)
    monkeypatch.setattr(outputs.InputOutputs, "_per_frame", checking_write)
    out = tmp_path / "out"
    args = [str(long), "--out", str(out), "--batch-size", "4", "--backend", "keras"]
    assert infer(params_file, model_dir, *args) == 0
    assert reads == list(range(20)) and len(ahead) == 20
    assert max(ahead) <= 4  # predict_frames reads the next frame to close a batch


def test_the_onnx_backend_runs_without_tensorflow(params_file, model_dir, tmp_path):
    """TensorFlow's import costs seconds and ~500 MB: the ONNX path (infer, serve) must not
    pay it. Checked in a fresh interpreter, where nothing else has imported it yet."""
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.zeros((48, 48), np.uint8))
    script = (
        "import sys; from stackseg.cli import main; "
        f"rc = main(['infer', '--params', {str(params_file)!r}, '--model', "
        f"{str(model_dir / 'model.keras')!r}, '--backend', 'onnx', {str(frame)!r}, "
        f"'--out', {str(tmp_path / 'out')!r}]); "
        "print(rc, sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split("\n")[-2] == "0 []", done.stdout + done.stderr
    assert (tmp_path / "out" / "frame.mask.tif").exists()
