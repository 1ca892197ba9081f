"""prepare.scaling training | fixed (prepare/window.py): one window for every stack,
independent of how much of a stack is foreground; and infer applies the card's window."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import tifffile

from stackseg.contracts import scaling_rule
from stackseg.infer import sources
from stackseg.infer.stage import Runner
from stackseg.prepare.scaling import scale_values
from tests.fixtures import make_card
from tests.prepare.stacks import run_prepare, write_image, write_mask, write_params

# per stack: the share of foreground pixels (bright nuclei on a dark background); a frame
# of background only is what a quadrant without nuclei looks like
FOREGROUND = {"a_background": 0.0, "b_foreground": 0.9, "c_mixed": 0.5, "d_mixed": 0.02}
SPLIT = {"train": 0.5, "val": 0.25, "test": 0.25}


def _stack(rng: np.random.Generator, share: float) -> np.ndarray:
    image = rng.integers(100, 300, (3, 16, 20), dtype=np.uint16)
    bright = rng.random(image.shape) < share
    image[bright] = rng.integers(2000, 4000, int(bright.sum()), dtype=np.uint16)
    return image


def _project(root: Path, capsys, **prepare) -> dict:
    rng = np.random.default_rng(7)
    raw = root / "data" / "raw"
    for name, share in FOREGROUND.items():
        write_image(raw / "images" / f"{name}.tif", _stack(rng, share))
        write_mask(raw / "masks" / f"{name}.tif", np.zeros((3, 16, 20), np.uint8))
    write_params(root, classes=["a"], mask_format="index", split=SPLIT, **prepare)
    code, err = run_prepare(root, capsys)
    assert code == 0, err
    return json.loads((root / "data/prepared/manifest.json").read_text())


def _expected_window(root: Path, manifest: dict) -> list[float]:
    """The documented percentiles over every pixel of the training stacks, by sorting."""
    values = np.sort(
        np.concatenate(
            [
                tifffile.imread(root / "data/raw" / record["image"]).ravel()
                for record in manifest["stacks"].values()
                if record["split"] == "train"
            ]
        )
    )
    last = values.size - 1
    low, high = math.floor(0.001 * last), min(math.ceil(0.999 * last), last)
    return [float(values[low]), float(values[high])]


def test_per_stack_windows_follow_the_content_the_training_window_does_not(tmp_path, capsys):
    own = _project(tmp_path / "stack", capsys, scaling="stack")
    windows = {n: (r["scaling"]["low"], r["scaling"]["high"]) for n, r in own["stacks"].items()}
    # a stack without nuclei stretches its background over 0..255, one with nuclei does not
    assert windows["a_background"][1] < 300 < 1999 < windows["b_foreground"][1]
    assert len(set(windows.values())) == 4

    pooled = _project(tmp_path / "training", capsys, scaling="training")
    assert pooled["scaling"]["rule"] == "training"
    assert pooled["scaling"]["window"] == _expected_window(tmp_path / "training", pooled)
    assert sum(r["split"] == "train" for r in pooled["stacks"].values()) == 2
    for record in pooled["stacks"].values():  # val and test stacks too: the same window
        assert record["scaling"] == {
            "source_dtype": "uint16",
            "method": "training",
            "low": pooled["scaling"]["window"][0],
            "high": pooled["scaling"]["window"][1],
        }

    # a training stack changes: the window moves, and the unchanged stacks are redone with it
    root = tmp_path / "training"
    train = sorted(n for n, r in pooled["stacks"].items() if r["split"] == "train")
    image = root / "data/raw" / pooled["stacks"][train[0]]["image"]
    tifffile.imwrite(image, tifffile.imread(image) + 1000, photometric="minisblack")
    code, err = run_prepare(root, capsys)
    assert code == 0, err
    again = json.loads((root / "data/prepared/manifest.json").read_text())
    assert again["scaling"]["window"] == _expected_window(root, again)
    assert again["scaling"]["window"] != pooled["scaling"]["window"]
    assert {(r["scaling"]["low"], r["scaling"]["high"]) for r in again["stacks"].values()} == {
        tuple(again["scaling"]["window"])
    }


def test_fixed_window_is_every_stacks(tmp_path, capsys):
    fixed = _project(tmp_path, capsys, scaling="fixed", scale_window=[50.0, 5000.0])
    assert fixed["scaling"]["window"] == [50.0, 5000.0]
    assert {r["scaling"]["method"] for r in fixed["stacks"].values()} == {"fixed"}
    assert {(r["scaling"]["low"], r["scaling"]["high"]) for r in fixed["stacks"].values()} == {
        (50.0, 5000.0)
    }


@pytest.mark.parametrize("rule", ["training", "stack"])
def test_infer_applies_the_cards_rule(tmp_path, rule):
    stack = _stack(np.random.default_rng(1), 0.0)[..., None]  # no nuclei
    path = tmp_path / "new.tif"
    tifffile.imwrite(path, stack[..., 0], photometric="minisblack")
    window = [100.0, 3100.0] if rule == "training" else None
    card = make_card(["a"]).model_copy(
        update={"prepared_scaling": scaling_rule(rule, 0.1, 99.9, window)}
    )
    runner = Runner(None, None, None, card, None)  # type: ignore[arg-type]  # card only
    reader = sources.open_input(path)
    frames_read = []
    try:
        scaler = runner.scaler(path, reader, lambda: frames_read.append(1))
        scaled = list(sources.scaled_frames(path, reader, scaler))
    finally:
        reader.close()
    if rule == "training":
        assert frames_read == []  # no statistics pass: the card's window
        assert (scaler.window.low, scaler.window.high) == (100.0, 3100.0)
    else:
        assert len(frames_read) == 3  # the stack's own histogram
        assert scaler.window.high < 300  # the background alone stretched over 0..255
    expected = scale_values(stack, scaler.window)
    assert np.array_equal(np.stack(scaled), expected)
