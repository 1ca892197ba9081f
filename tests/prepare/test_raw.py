"""Bad input: one line per problem naming the file (and frame), exit code 3, nothing written.

Each case runs `stackseg prepare` through the CLI entry point on a tiny project where one
thing is wrong, and checks the message, the exit code, the absence of a traceback and that
the output directory was never created (a failed run leaves no trace).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from stackseg.prepare.raw import discover, safe_name
from tests.prepare import stacks

RNG = np.random.default_rng(11)


def _image(raw: Path, name: str, data: np.ndarray) -> None:
    stacks.write_image(raw / "images" / name, data)


def _mask(raw: Path, name: str, data: np.ndarray) -> None:
    stacks.write_mask(raw / "masks" / name, data)


def image_without_mask(raw):
    _image(raw, "lonely.tif", stacks.image_frames(RNG, 3, 24, 32))


def mask_without_image(raw):
    _mask(raw, "orphan.tif", stacks.mask_frames(RNG, 3, 24, 32))


def same_stem_twice(raw):
    _image(raw, "s1.tiff", stacks.image_frames(RNG, 3, 24, 32))


def frame_count_mismatch(raw):
    _mask(raw, "s1.tif", stacks.mask_frames(RNG, 2, 24, 32))


def frame_size_mismatch(raw):
    _mask(raw, "s1.tif", stacks.mask_frames(RNG, 3, 24, 30))


def corrupt_file(raw):
    (raw / "images" / "s1.tif").write_bytes(b"II*\x00" + bytes(range(256)) * 8)


def truncated_file(raw):
    path = raw / "masks" / "s1.tif"
    path.write_bytes(path.read_bytes()[:-900])


def zero_byte_file(raw):
    (raw / "images" / "s1.tif").write_bytes(b"")


def empty_stack(raw):
    (raw / "images" / "s1.tif").write_bytes(b"II*\x00\x00\x00\x00\x00")


def png_posing_as_tiff(raw):
    from PIL import Image

    Image.fromarray(stacks.image_frames(RNG, 1, 24, 32)[0]).save(raw / "images" / "s1.tif", "PNG")


def mask_value_outside_binary(raw):
    masks = stacks.mask_frames(RNG, 3, 24, 32)
    masks[2, 5, 6, 1] = 2
    _mask(raw, "s1.tif", masks)


def nan_in_float_image(raw):
    images = RNG.random((3, 24, 32), dtype=np.float32)
    images[1, 3, 4] = np.nan
    _image(raw, "s1.tif", images)


def unsafe_names_collide(raw):
    _image(raw, "s 1.tif", stacks.image_frames(RNG, 3, 24, 32))
    _mask(raw, "s 1.tif", stacks.mask_frames(RNG, 3, 24, 32))
    _image(raw, "s_1.tif", stacks.image_frames(RNG, 3, 24, 32))
    _mask(raw, "s_1.tif", stacks.mask_frames(RNG, 3, 24, 32))


CASES = {
    # case: (break the raw data, expected text, file named, frame named or None)
    "image without mask": (image_without_mask, "no mask stack", "images/lonely.tif", None),
    "mask without image": (mask_without_image, "no image stack", "masks/orphan.tif", None),
    "same stem twice": (same_stem_twice, "two files with the same stack name", "s1.tiff", None),
    "frame count": (frame_count_mismatch, "has 3 frames but", "masks/s1.tif", None),
    "frame size": (frame_size_mismatch, "frames are 24x32 (HxW) but", "masks/s1.tif", None),
    "corrupt": (corrupt_file, "damaged or truncated TIFF", "images/s1.tif", None),
    "truncated": (truncated_file, "truncated", "masks/s1.tif", None),
    "zero bytes": (zero_byte_file, "empty file (0 bytes)", "images/s1.tif", None),
    "empty stack": (empty_stack, "empty stack", "images/s1.tif", None),
    "not a tiff": (
        png_posing_as_tiff,
        "not a TIFF file (it is a PNG image)",
        "images/s1.tif",
        None,
    ),
    "mask value": (mask_value_outside_binary, "mask values 2 are not binary", "masks/s1.tif", 2),
    "nan": (nan_in_float_image, "1 NaN/inf pixels", "images/s1.tif", 1),
    "name collision": (unsafe_names_collide, "collide once made file-safe", "s 1.tif", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_validation_error(tmp_path, capsys, case):
    breaker, expected, named_file, frame = CASES[case]
    raw = stacks.make_raw(tmp_path, stacks=3)
    stacks.write_params(tmp_path)
    breaker(raw)
    code, err = stacks.run_prepare(tmp_path, capsys)
    assert code == 3, err
    lines = [line for line in err.splitlines() if "error:" in line]
    matching = [line for line in lines if expected in line]
    assert len(matching) == 1, err
    assert named_file in matching[0]
    if frame is not None:
        assert f" frame {frame}:" in matching[0]
    assert "Traceback" not in err
    assert not (tmp_path / "data" / "prepared").exists()
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["raw"]  # no temp dir left


def test_index_masks_with_a_class_beyond_the_params(tmp_path, capsys):
    raw = tmp_path / "data" / "raw"
    for name in ("a", "b", "c"):
        _image(raw, f"{name}.tif", stacks.image_frames(RNG, 2, 16, 16))
        _mask(raw, f"{name}.tif", RNG.integers(0, 4, (2, 16, 16), dtype=np.uint8))
    tifffile.imwrite(raw / "masks" / "b.tif", np.full((2, 16, 16), 4, np.uint8))
    stacks.write_params(tmp_path, mask_format="index")
    code, err = stacks.run_prepare(tmp_path, capsys)
    assert code == 3
    assert "masks/b.tif frame 0: class index 4 outside 0..3" in err
    assert "masks/b.tif frame 1: class index 4 outside 0..3" in err
    assert not (tmp_path / "data" / "prepared").exists()


def test_more_than_four_classes_is_refused_by_the_config(tmp_path, capsys):
    stacks.make_raw(tmp_path, stacks=3)
    stacks.write_params(tmp_path, classes=["a", "b", "c", "d", "e"])
    code, err = stacks.run_prepare(tmp_path, capsys)
    assert code == 2
    assert "classes" in err and "at most 4" in err
    assert not (tmp_path / "data" / "prepared").exists()


def test_all_problems_are_listed_and_the_previous_output_survives(tmp_path, capsys):
    raw = stacks.make_raw(tmp_path, stacks=4)
    stacks.write_params(tmp_path)
    assert stacks.run_prepare(tmp_path, capsys)[0] == 0
    before = stacks.tree(tmp_path / "data" / "prepared")
    frame_count_mismatch(raw)
    (raw / "images" / "s2.tif").write_bytes(b"")
    mask_value_outside_binary_in(raw, "s3.tif")
    code, err = stacks.run_prepare(tmp_path, capsys)
    assert code == 3
    assert "images/s1.tif has 3 frames but" in err
    assert "images/s2.tif: empty file" in err
    # structural problems stop the run before pixel work: no value check ran yet
    assert "s3.tif frame" not in err
    assert stacks.tree(tmp_path / "data" / "prepared") == before


def mask_value_outside_binary_in(raw: Path, name: str) -> None:
    masks = stacks.mask_frames(RNG, 3, 24, 32)
    masks[0, 0, 0, 0] = 7
    _mask(raw, name, masks)


def test_value_problems_of_several_stacks_are_all_reported(tmp_path, capsys):
    raw = stacks.make_raw(tmp_path, stacks=4)
    stacks.write_params(tmp_path)
    assert stacks.run_prepare(tmp_path, capsys)[0] == 0
    before = stacks.tree(tmp_path / "data" / "prepared")
    mask_value_outside_binary_in(raw, "s1.tif")
    mask_value_outside_binary_in(raw, "s3.tif")
    code, err = stacks.run_prepare(tmp_path, capsys)
    assert code == 3
    assert "masks/s1.tif frame 0: mask values 7" in err
    assert "masks/s3.tif frame 0: mask values 7" in err
    # the failed write pass happened in a temporary directory, now gone
    assert stacks.tree(tmp_path / "data" / "prepared") == before
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["prepared", "raw"]


@pytest.mark.parametrize(
    ("stem", "safe"),
    [
        ("plain_name-1.v2", "plain_name-1.v2"),
        ("with space", "with_space"),
        ("a/b:c*?", "a_b_c_"),
        ("ümlaut", "_mlaut"),
        ("..hidden", "hidden"),
        ("-rf", "rf"),
    ],
)
def test_safe_names(stem, safe):
    assert safe_name(stem) == safe


def test_discover_pairs_by_stem_and_skips_other_files(tmp_path):
    raw = stacks.make_raw(tmp_path, stacks=2)
    (raw / "images" / "._s0.tif").write_bytes(b"AppleDouble")  # macOS metadata file
    (raw / "images" / "notes.txt").write_text("not a stack")
    _mask(raw, "s1.TIF", stacks.mask_frames(RNG, 3, 24, 32))  # same stem, other case of suffix
    found, problems = discover(raw)
    assert [s.name for s in found] == ["s0", "s1"]
    assert len(problems) == 1 and "two files with the same stack name 's1'" in problems[0]


def test_case_only_differences_collide(tmp_path):
    raw = tmp_path / "raw"
    for stem in ("Cell", "cell"):
        _image(raw, f"{stem}.tif", stacks.image_frames(RNG, 1, 8, 8))
        _mask(raw, f"{stem}.tif", stacks.mask_frames(RNG, 1, 8, 8))
    found, problems = discover(raw)
    assert len(problems) == 1 and "collide" in problems[0]
