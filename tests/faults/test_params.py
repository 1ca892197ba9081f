"""Params that used to pass validation and then crash train (issue 20, item 5).

Each malformed params file is refused before any work: one error line naming the file, exit
2, no traceback (and no TensorFlow crash: train imports TensorFlow only after the config is
valid). Every value case is checked in-process (config_from_dict, what every command calls);
the ones the issue saw crash, and the file-level ones, also through `stackseg train
--params X` in a subprocess. The boundaries just inside are accepted.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from stackseg.config import MAX_IMAGE_SIZE, MAX_SEED, config_from_dict
from stackseg.errors import ConfigError
from tests.conftest import BIN, tiny_params

# name -> (overrides merged over the tiny params, what the one line must say)
MALFORMED = {
    "seed -1": ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
    "seed 2**80": ({"seed": 2**80}, f"seed: Input should be less than or equal to {MAX_SEED}"),
    "seed 2**32": ({"seed": 2**32}, f"seed: Input should be less than or equal to {MAX_SEED}"),
    "depth 6, image_size 16": (
        {"train": {"depth": 6, "image_size": 16}},
        "train: Value error, image_size must be a multiple of 64 (unet halves its input 6 "
        "times) up to 2048, got 16",
    ),
    "image_size 36, depth 3": (
        {"train": {"depth": 3, "image_size": 36}},
        "image_size must be a multiple of 8",
    ),
    "image_size 4096": ({"train": {"image_size": 4096}}, "up to 2048, got 4096"),
    "sm_unet image_size 48": (
        {"train": {"arch": "sm_unet", "image_size": 48}},
        "image_size must be a multiple of 32 (sm_unet halves its input 5 times)",
    ),
    "a b and a_b": (
        {"classes": ["a b", "a_b"]},
        "class names 'a b' and 'a_b' both become metric iou_a_b",
    ),
    "a/b and a.b": (
        {"classes": ["a/b", "a.b"]},
        "class names 'a/b' and 'a.b' both become metric iou_a_b",
    ),
    "no letter": ({"classes": ["disc", "//"]}, "class name '//' needs a letter or digit"),
    "duplicate": ({"classes": ["disc", "disc"]}, "class names must be unique"),
}


def _train(params_file: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["stackseg", "train", "--params", str(params_file)],
        cwd=params_file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_one_line(proc: subprocess.CompletedProcess, params_file: Path, says: str) -> None:
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"stackseg train: error: {params_file}: "), lines[0]
    assert says in lines[0], lines[0]


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_value_is_one_line(case: str):
    overrides, says = MALFORMED[case]
    with pytest.raises(ConfigError) as err:
        config_from_dict(tiny_params(**overrides), source="p.yaml")
    assert len(err.value.problems) == 1 and err.value.problems[0].startswith("p.yaml: ")
    assert says in err.value.problems[0], err.value.problems[0]


@pytest.mark.parametrize("case", ["seed 2**80", "depth 6, image_size 16", "image_size 4096"])
def test_train_refuses_before_any_work(tmp_path: Path, case: str):
    overrides, says = MALFORMED[case]
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(tiny_params(**overrides), sort_keys=False))
    _assert_one_line(_train(params_file), params_file, says)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"seed: 42\nclasses: [\xe9t\xe9]\n", "not UTF-8 text (byte 0xe9 at offset 19): save"),
        (b"", "empty: every parameter is set there, none has a default"),
        (b"# all commented out\n", "empty: every parameter is set there"),
    ],
    ids=["latin-1", "empty", "comments only"],
)
def test_unreadable_or_empty_file_is_one_line(tmp_path: Path, content: bytes, says: str):
    params_file = tmp_path / "params.yaml"
    params_file.write_bytes(content)
    _assert_one_line(_train(params_file), params_file, says)


def test_the_boundaries_are_accepted():
    for overrides in (
        {"seed": 0},
        {"seed": MAX_SEED},
        {"train": {"depth": 6, "image_size": 64}},
        {"train": {"depth": 2, "image_size": MAX_IMAGE_SIZE}},
        {"train": {"arch": "sm_fpn", "image_size": 32}},
        {"classes": ["a b", "a-b", "Ab"]},  # iou_a_b, iou_a-b, iou_Ab: all distinct
    ):
        config_from_dict(tiny_params(**overrides))
    with pytest.raises(ConfigError):
        config_from_dict(tiny_params(seed=True))  # strict: a bool is no seed


def test_train_refuses_an_image_size_no_train_frame_fills(tmp_path: Path):
    from stackseg.train.prepared import check_crop_size, read_prepared
    from tests.train.prepared_data import write_prepared

    # train frames 32 x 40 and 28 x 24: a 32 crop fits the larger ones (the smaller ones
    # are zero-padded, as intended for mixed sizes); 40 or more fits none
    data = read_prepared(write_prepared(tmp_path / "prepared"), ["disc", "ring", "streak"])
    check_crop_size(data, 32, 4)
    with pytest.raises(ConfigError) as err:
        check_crop_size(data, 48, 16)
    assert err.value.exit_code == 2 and err.value.problems == [
        f"{tmp_path}/prepared/manifest.json: train.image_size 48 is larger than every train "
        "frame (largest 32 x 40), so every crop would be mostly zero padding: use at most 32"
    ]
    with pytest.raises(ConfigError, match="need a smaller train.depth"):
        check_crop_size(data, 64, 64)
