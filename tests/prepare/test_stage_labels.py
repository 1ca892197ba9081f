"""The prepare stage on instance-label masks: synth --labels data in, pairs, object ids and
manifest out; an incremental run reuses the ids too; every label problem is one line."""

from __future__ import annotations

import json
from pathlib import Path

import imagecodecs
import numpy as np
import tifffile
from skimage.segmentation import find_boundaries, relabel_sequential

from stackseg.contracts import ids_file, read_manifest
from stackseg.synth import SynthSettings, generate
from tests.prepare.stacks import image_frames, inodes, run_prepare, write_pair, write_params

CLASSES = ["nucleus", "boundary"]
LABELS = SynthSettings(
    stacks=4,
    frames=2,
    height=48,
    width=40,
    channels=1,
    dtype="uint8",
    seed=3,
    n_classes=2,
    mask_format="labels",
)


def _png(path: Path) -> np.ndarray:
    return imagecodecs.png_decode(path.read_bytes())


def test_prepare_on_synth_labels_writes_pairs_ids_and_manifest(tmp_path, capsys):
    raw = tmp_path / "data" / "raw"
    generate(LABELS, raw)
    write_params(tmp_path, classes=CLASSES, mask_format="labels", labels_boundary=True)
    code, err = run_prepare(tmp_path, capsys)
    assert code == 0, err
    prepared = tmp_path / "data" / "prepared"
    manifest = read_manifest(prepared, CLASSES)
    assert manifest.mask_format == "labels" and len(manifest.pairs) == 8
    touching = 0
    for pair in manifest.pairs:
        assert pair.ids == ids_file(pair.split, pair.name)
        with tifffile.TiffFile(raw / "masks" / f"{pair.stack}.tif") as tif:
            source = tif.asarray()[pair.frame]
        assert source.dtype == np.uint16
        ids = _png(prepared / pair.ids)
        assert ids.dtype == np.uint16
        np.testing.assert_array_equal(ids, relabel_sequential(source)[0])
        mask = _png(prepared / pair.mask)
        edge = find_boundaries(source, mode="inner")
        np.testing.assert_array_equal(mask[..., 0], (source != 0) * 255)
        np.testing.assert_array_equal(mask[..., 1], edge * 255)
        assert pair.class_fraction == [
            round(float(np.mean(source != 0)), 6),
            round(float(np.mean(edge)), 6),
        ]
        # pixels of two different ids side by side: the demo has touching objects
        touching += int(
            np.any((source[:, 1:] != source[:, :-1]) & (source[:, 1:] > 0) & (source[:, :-1] > 0))
        )
    assert touching > 0
    listed = {pair.ids for pair in manifest.pairs}
    on_disk = {str(p.relative_to(prepared)) for p in prepared.glob("*/objects/*.png")}
    assert listed == on_disk

    # unchanged stacks: the next run links every file, the object ids included
    before = inodes(prepared)
    code, err = run_prepare(tmp_path, capsys)
    assert code == 0, err
    after = inodes(prepared)
    assert len(after) == 1 + 3 * 8  # the manifest; image, mask and ids of each pair
    assert {k: v for k, v in after.items() if k != "manifest.json"} == {
        k: v for k, v in before.items() if k != "manifest.json"
    }
    assert read_manifest(prepared) == manifest

    # a stack whose previous ids file is gone is redone, not reused without it
    gone = prepared / manifest.pairs[0].ids
    gone.unlink()
    code, err = run_prepare(tmp_path, capsys)
    assert code == 0, err
    assert gone.is_file() and read_manifest(prepared) == manifest


def _stack(raw: Path, name: str, mask: np.ndarray) -> None:
    frames, height, width = mask.shape[:3]
    write_pair(raw, name, image_frames(np.random.default_rng(0), frames, height, width), mask)


def _errors(root: Path, capsys) -> list[str]:
    write_params(root, classes=["nucleus"], mask_format="labels")
    code, err = run_prepare(root, capsys)
    assert code == 3 and "Traceback" not in err
    assert not (root / "data" / "prepared").exists()
    return [line for line in err.splitlines() if "error:" in line]


def test_label_stacks_of_the_wrong_type_or_shape_are_refused_by_file(tmp_path, capsys):
    raw = tmp_path / "data" / "raw"
    _stack(raw, "good", np.ones((2, 16, 16), np.uint16))
    _stack(raw, "float", np.ones((2, 16, 16), np.float32))
    _stack(raw, "rgb", np.ones((2, 16, 16, 3), np.uint16))
    _stack(raw, "single", np.ones((2, 16, 16), np.uint32))
    # (H, W, 1) frames are fine: as tifffile.imwrite writes them by default (axes QYXQ)
    tifffile.imwrite(raw / "masks" / "single.tif", np.ones((2, 16, 16, 1), np.uint32))
    lines = _errors(tmp_path, capsys)
    assert len(lines) == 2, lines
    assert "masks/float.tif: pixel type float32 cannot hold instance ids" in lines[0] + lines[1]
    assert "masks/rgb.tif: a label image with 3 channels" in lines[0] + lines[1]


def test_label_values_are_checked_per_frame(tmp_path, capsys):
    raw = tmp_path / "data" / "raw"
    negative = np.ones((2, 256, 256), np.int16)
    negative[1, 5, 5] = -2
    huge = np.ones((2, 256, 256), np.uint64)
    huge[0, 0, 0] = 2**40
    many = np.ones((2, 256, 256), np.uint32)
    many[1] = np.arange(1, 65_537, dtype=np.uint32).reshape(256, 256)
    for name, mask in (("negative", negative), ("huge", huge), ("many", many)):
        _stack(raw, name, mask)
    lines = _errors(tmp_path, capsys)
    assert len(lines) == 3, lines
    expected = {
        "masks/negative.tif frame 1: negative label -2",
        "masks/huge.tif frame 0: label 1099511627776 is above 4294967295",
        "masks/many.tif frame 1: 65536 objects, more than the 65535",
    }
    for text in expected:
        assert sum(text in line for line in lines) == 1, (text, lines)


def test_manifest_of_other_formats_has_no_ids(tmp_path, capsys):
    raw = tmp_path / "data" / "raw"
    _stack(raw, "a", np.ones((1, 8, 8), np.uint8))
    write_params(tmp_path, classes=["x"], mask_format="index")
    assert run_prepare(tmp_path, capsys)[0] == 0
    text = (tmp_path / "data/prepared/manifest.json").read_text()
    assert '"ids"' not in text and json.loads(text)["pairs"]
    assert not list((tmp_path / "data/prepared").glob("*/objects"))
