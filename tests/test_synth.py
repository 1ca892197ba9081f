"""The built-in demo dataset (`stackseg synth`): format, content, determinism and the CLI."""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from stackseg import cli
from stackseg.synth import FULL_PROFILE, LABELS_PROFILE, SynthSettings, generate, stack_frames
from stackseg.synth import writer as synth_writer
from stackseg.synth.fixedpoint import TRIG_ONE, TRIG_STEPS
from tests.conftest import ROOT, run, tiny_params

# sha256 over (relative path, bytes) of every file of SMALL: a regression pin. If a change to the
# generator is intended, update it and the committed data/raw.dvc together.
SMALL_DATASET_SHA256 = "47de06274ee5fe0f646c43ae6090d78f2fa6dedc1f3c73f4449347655b7ab47f"


def settings(**overrides) -> SynthSettings:
    values = dict(
        stacks=2,
        frames=2,
        height=32,
        width=40,
        channels=1,
        dtype="uint8",
        seed=0,
        n_classes=3,
        mask_format="channels",
    )
    values.update(overrides)
    return SynthSettings(**values)


SMALL = settings()
# the instance-label demo (synth --labels): nuclei, uint16 label masks
LABELS = settings(mask_format="labels", n_classes=1)
LABELS_DATASET_SHA256 = "f2795ee7ca718c4d3f5e65b564386844ccb5b5b829fc02021192c6c2c989d24b"
DATASETS = {"SMALL": SMALL, "LABELS": LABELS}
PINNED = [("SMALL", SMALL_DATASET_SHA256), ("LABELS", LABELS_DATASET_SHA256)]


def dataset_sha256(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        return tif.asarray()


@pytest.mark.parametrize(
    ("channels", "dtype", "mask_format", "n_classes"),
    [
        (1, "uint8", "channels", 3),
        (3, "uint8", "channels", 3),
        (1, "uint16", "channels", 3),
        (3, "float32", "channels", 3),
        (1, "uint8", "index", 3),
        (1, "uint8", "channels", 1),
        (3, "uint16", "channels", 4),
        (1, "uint16", "labels", 1),
        (3, "uint8", "labels", 2),
    ],
)
def test_files_shapes_and_dtypes(tmp_path, channels, dtype, mask_format, n_classes):
    s = settings(
        stacks=3,
        frames=4,
        channels=channels,
        dtype=dtype,
        mask_format=mask_format,
        n_classes=n_classes,
    )
    generate(s, tmp_path / "raw")
    names = ["stack_000.tif", "stack_001.tif", "stack_002.tif"]
    assert sorted(p.name for p in (tmp_path / "raw/images").iterdir()) == names
    assert sorted(p.name for p in (tmp_path / "raw/masks").iterdir()) == names
    for name in names:
        with tifffile.TiffFile(tmp_path / "raw/images" / name) as tif:
            assert len(tif.pages) == 4  # multi-page: one page per frame
            image = tif.asarray()
        mask = read(tmp_path / "raw/masks" / name)
        assert image.shape == (4, 32, 40) + ((3,) if channels == 3 else ())
        assert image.dtype == np.dtype(dtype)
        assert image.std() > 0
        if dtype == "uint16":
            assert image.max() <= 4095 and image.max() > 255  # 12-bit camera values
        if dtype == "float32":
            assert image.min() >= 0.0 and image.max() <= 1.0
        if mask_format == "labels":
            assert mask.dtype == np.uint16 and mask.shape == (4, 32, 40)
            assert mask.max() > 1  # ids, not a binary mask
            continue
        assert mask.dtype == np.uint8
        if mask_format == "index":
            assert mask.shape == (4, 32, 40)
            assert set(np.unique(mask)) <= set(range(n_classes + 1))
        else:
            assert mask.shape == (4, 32, 40) + ((n_classes,) if n_classes > 1 else ())
            assert set(np.unique(mask)) <= {0, 1}


def test_every_class_in_every_frame_and_objects_move_slowly():
    s = settings(stacks=4, frames=6, height=96, width=96)
    for index in range(s.stacks):
        frames = list(stack_frames(s, index))
        images = np.stack([f[0] for f in frames]).astype(np.int32)
        masks = np.stack([f[1] for f in frames]).astype(bool)
        assert masks.any(axis=(1, 2)).all(), f"stack {index}: a class is missing from a frame"
        for t in range(1, s.frames):
            overlap = (masks[t] & masks[t - 1]).sum(axis=(0, 1))
            union = (masks[t] | masks[t - 1]).sum(axis=(0, 1))
            assert (overlap / union > 0.6).all(), f"stack {index} frame {t}: masks jumped"
            step = np.abs(images[t] - images[t - 1]).mean()
            other = np.abs(images[t] - images[t][::-1, ::-1]).mean()
            assert step < 0.6 * other


def test_masks_follow_the_scene_not_the_camera():
    gray = [m for _, m in stack_frames(settings(), 0)]
    rgb = [m for _, m in stack_frames(settings(channels=3, dtype="float32"), 0)]
    assert all(np.array_equal(a, b) for a, b in zip(gray, rgb, strict=True))


def test_index_masks_draw_later_classes_over_earlier_ones():
    s = settings(frames=3, height=96, width=96)
    for (_, channel_mask), (_, index_mask) in zip(
        stack_frames(s, 1),
        stack_frames(settings(frames=3, height=96, width=96, mask_format="index"), 1),
        strict=True,
    ):
        expected = np.zeros(index_mask.shape, np.uint8)
        for label in range(3):
            expected[channel_mask[..., label] == 1] = label + 1
        assert np.array_equal(index_mask, expected)


def best_threshold_iou(values: np.ndarray, truth: np.ndarray) -> float:
    """IoU of the best global threshold, either direction, learned on the same pixels."""
    positive = np.bincount(values[truth], minlength=256)
    negative = np.bincount(values[~truth], minlength=256)
    above = np.cumsum(positive[::-1])[::-1] / (positive.sum() + np.cumsum(negative[::-1])[::-1])
    below = np.cumsum(positive) / (positive.sum() + np.cumsum(negative))
    return float(max(above.max(), below.max()))


def test_labels_demo_has_touching_nuclei_with_stable_ids():
    for index in range(4):
        frames = list(
            stack_frames(settings(frames=4, height=96, width=96, mask_format="labels"), index)
        )
        touching = 0
        for image, ids in frames:
            assert ids.dtype == np.uint16 and image.dtype == np.uint8
            # nuclei are brighter than the background around them
            assert image[ids > 0].mean() > image[ids == 0].mean() + 20
            meet = (ids[:, 1:] != ids[:, :-1]) & (ids[:, 1:] > 0) & (ids[:, :-1] > 0)
            touching += int(meet.sum())
            # each id is one nucleus: never split into pieces far apart
            for ident in np.unique(ids)[1:]:
                ys, xs = np.nonzero(ids == ident)
                assert np.ptp(ys) < 40 and np.ptp(xs) < 40
        assert touching > 0, f"stack {index}: no touching nuclei"
        # the same nucleus keeps its id and moves slowly between frames
        first, last = frames[0][1], frames[-1][1]
        for ident in set(np.unique(first)[1:]) & set(np.unique(last)[1:]):
            a, b = np.argwhere(first == ident).mean(0), np.argwhere(last == ident).mean(0)
            assert np.abs(a - b).max() < 4


def test_no_global_intensity_threshold_segments_the_classes():
    s = settings(stacks=12, frames=3, height=96, width=96)
    pairs = [pair for index in range(s.stacks) for pair in stack_frames(s, index)]
    values = np.stack([p[0] for p in pairs]).reshape(-1)
    masks = np.stack([p[1] for p in pairs]).reshape(-1, 3).astype(bool)
    scores = [best_threshold_iou(values, masks[:, k]) for k in range(3)]
    assert np.mean(scores) <= 0.45, scores


@pytest.mark.parametrize(("name", "pinned"), PINNED, ids=[name for name, _ in PINNED])
def test_same_seed_same_bytes_and_pinned_hash(tmp_path, name, pinned):
    generate(DATASETS[name], tmp_path / "a")
    generate(DATASETS[name], tmp_path / "b")
    assert dataset_sha256(tmp_path / "a") == dataset_sha256(tmp_path / "b")
    assert dataset_sha256(tmp_path / "a") == pinned


@pytest.mark.parametrize(
    ("name", "pinned"),
    [PINNED[0], pytest.param(*PINNED[1], marks=pytest.mark.slow)],  # ~3 s each
    ids=[name for name, _ in PINNED],
)
def test_bytes_do_not_depend_on_the_cpus_simd_extensions(tmp_path, name, pinned):
    # Rerun with every SIMD code path numpy dispatches to switched off (baseline instructions
    # only), as a CPU without them would: the pixels, hence the bytes, must not change.
    from numpy._core import _multiarray_umath

    dispatched = " ".join(getattr(_multiarray_umath, "__cpu_dispatch__", []))
    code = (
        f"import sys; from stackseg.synth import generate; from tests.test_synth import {name}; "
        f"generate({name}, sys.argv[1])"
    )
    run(
        [sys.executable, "-c", code, str(tmp_path / "raw")],
        ROOT,
        env={"NPY_DISABLE_CPU_FEATURES": dispatched},
    )
    assert dataset_sha256(tmp_path / "raw") == pinned


def test_other_seed_differs_and_stacks_do_not_depend_on_the_count(tmp_path):
    generate(SMALL, tmp_path / "a")
    generate(settings(seed=1), tmp_path / "b")
    assert dataset_sha256(tmp_path / "a") != dataset_sha256(tmp_path / "b")
    generate(settings(stacks=5), tmp_path / "c")
    for sub in ("images", "masks"):
        for name in ("stack_000.tif", "stack_001.tif"):
            assert (tmp_path / "a" / sub / name).read_bytes() == (
                tmp_path / "c" / sub / name
            ).read_bytes()


@pytest.mark.parametrize(
    "mask_format", ["channels", pytest.param("labels", marks=pytest.mark.slow)]
)
def test_process_pool_writes_the_same_bytes(tmp_path, monkeypatch, mask_format):
    s = settings(stacks=3, mask_format=mask_format)
    generate(s, tmp_path / "serial", workers=1)
    monkeypatch.setattr(synth_writer, "POOL_MIN_PIXELS", 0)
    assert synth_writer.choose_workers(s, 2) == 2
    generate(s, tmp_path / "pool", workers=2)
    assert dataset_sha256(tmp_path / "serial") == dataset_sha256(tmp_path / "pool")


def test_trig_tables_are_the_same_on_every_machine():
    # A libm may be one ulp off; no entry may be near enough to a rounding boundary to care.
    for k in range(TRIG_STEPS):
        for value in (
            math.cos(2 * math.pi * k / TRIG_STEPS),
            math.sin(2 * math.pi * k / TRIG_STEPS),
        ):
            scaled = TRIG_ONE * value
            assert abs(abs(scaled - math.floor(scaled)) - 0.5) > 1e-6


def test_replaces_the_output_whole_and_leaves_no_temporary_files(tmp_path):
    out = tmp_path / "raw"
    (out / "images").mkdir(parents=True)
    (out / "images" / "old.tif").write_bytes(b"stale")
    generate(SMALL, out)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["stack_000.tif", "stack_001.tif"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_failure_leaves_the_previous_output_untouched(tmp_path, monkeypatch):
    out = tmp_path / "raw"
    generate(SMALL, out)
    before = dataset_sha256(out)

    def broken(settings, index):
        frames = stack_frames(settings, index)
        yield next(frames)
        raise RuntimeError("disk full")

    monkeypatch.setattr(synth_writer, "stack_frames", broken)
    with pytest.raises(RuntimeError):
        generate(settings(seed=3), out)
    assert dataset_sha256(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]
    with pytest.raises(RuntimeError):
        generate(SMALL, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def write_params(path: Path, **synth) -> Path:
    params = tiny_params(synth={**tiny_params()["synth"], **synth})
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def test_cli_writes_the_configured_dataset(tmp_path):
    params = write_params(tmp_path / "params.yaml", stacks=2, frames=3, height=24, width=40)
    proc = run(
        ["stackseg", "synth", "--params", str(params), "--out", str(tmp_path / "demo")], tmp_path
    )
    assert "wrote 2 stacks" in proc.stderr
    # stderr is captured, not a terminal: plain progress lines, the last one at the end
    progress = [line for line in proc.stderr.splitlines() if line.startswith("synth: ")]
    assert progress[-1].startswith("synth: 6/6 frames (100%), ")
    assert "\r" not in proc.stderr
    mask = read(tmp_path / "demo/masks/stack_001.tif")
    assert mask.shape == (3, 24, 40, 3)


def test_cli_overrides_and_full_profile(tmp_path, monkeypatch):
    params = write_params(tmp_path / "params.yaml", stacks=2, frames=3)
    (tmp_path / "profiles").mkdir()
    (tmp_path / FULL_PROFILE).write_text((ROOT / FULL_PROFILE).read_text())
    seen = []
    monkeypatch.setattr("stackseg.synth.generate", lambda s, out, workers: seen.append((s, out)))
    base = ["synth", "--params", str(params), "--out", str(tmp_path / "x")]
    assert cli.main(base + ["--stacks", "5", "--frames", "2", "--seed", "7"]) == 0
    assert cli.main(base + ["--full"]) == 0
    assert cli.main(base + ["--full", "--frames", "4"]) == 0
    assert (seen[0][0].stacks, seen[0][0].frames, seen[0][0].seed) == (5, 2, 7)
    # --full is the synth section of the one full-scale profile, the file `dvc exp run` uses
    profile = yaml.safe_load((ROOT / FULL_PROFILE).read_text())["synth"]
    full = seen[1][0]
    assert {key: getattr(full, key) for key in profile} == profile
    assert full.stacks * full.frames == 20_090
    assert full.seed == tiny_params()["synth"]["seed"]  # what the profile leaves out: params
    assert (seen[2][0].stacks, seen[2][0].frames) == (profile["stacks"], 4)
    with pytest.raises(SystemExit):
        cli.main(base + ["--stacks", "0"])


def test_cli_labels_writes_the_labels_profile_dataset(tmp_path, monkeypatch, capsys):
    params = write_params(tmp_path / "params.yaml", stacks=2, frames=3)
    (tmp_path / "profiles").mkdir()
    (tmp_path / LABELS_PROFILE).write_text((ROOT / LABELS_PROFILE).read_text())
    seen = []
    monkeypatch.setattr("stackseg.synth.generate", lambda s, out, workers: seen.append((s, out)))
    base = ["synth", "--params", str(params), "--out", str(tmp_path / "x")]
    assert cli.main(base + ["--labels", "--stacks", "3"]) == 0
    profile = yaml.safe_load((ROOT / LABELS_PROFILE).read_text())
    labels = seen[0][0]
    assert labels.mask_format == "labels" == profile["prepare"]["mask_format"]
    assert labels.n_classes == len(profile["classes"])
    assert (labels.frames, labels.height, labels.stacks) == (
        profile["synth"]["frames"],
        profile["synth"]["height"],
        3,
    )
    with pytest.raises(SystemExit):  # one profile at a time
        cli.main(base + ["--labels", "--full"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_full_without_or_with_a_bad_profile_is_one_line(tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml")
    args = ["synth", "--params", str(params), "--out", str(tmp_path / "x"), "--full"]
    assert cli.main(args) == 2
    profile = tmp_path / FULL_PROFILE
    assert capsys.readouterr().err.splitlines() == [
        f"stackseg synth: error: {profile}: not found (profiles live in profiles/ of the project root)"
    ]
    profile.parent.mkdir()
    profile.write_text("synth:\n  stacks: 41\n  frams: 490\n")
    assert cli.main(args) == 2
    # (the config may add a hint line to an unknown key; the first line names it)
    assert capsys.readouterr().err.splitlines()[0] == (
        f"stackseg synth: error: {profile}: synth.frams: unknown key"
    )
    assert not (tmp_path / "x").exists()


def test_if_missing_keeps_existing_stacks(tmp_path):
    params = write_params(tmp_path / "params.yaml", stacks=2, frames=2)
    out = tmp_path / "raw"
    args = ["synth", "--params", str(params), "--out", str(out), "--if-missing"]
    assert cli.main(args) == 0  # nothing there yet: writes
    written = dataset_sha256(out)
    assert cli.main(args + ["--seed", "9"]) == 0  # already there: keeps it
    assert dataset_sha256(out) == written
    assert cli.main(args[:-1] + ["--seed", "9"]) == 0  # without the flag: replaces
    assert dataset_sha256(out) != written


def test_negative_seed_is_refused(tmp_path):
    params = write_params(tmp_path / "params.yaml", seed=-1)
    assert cli.main(["synth", "--params", str(params), "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
