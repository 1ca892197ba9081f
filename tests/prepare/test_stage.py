"""The prepare stage end to end: pairs, manifest, incremental runs, workers, light parent."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from stackseg.contracts import read_manifest
from tests.prepare.stacks import (
    inodes,
    make_raw,
    mask_frames,
    run_prepare,
    tree,
    write_image,
    write_mask,
    write_pair,
    write_params,
)

PREPARED = Path("data/prepared")


def _manifest(root: Path, prepared: Path = PREPARED) -> dict:
    return json.loads((root / prepared / "manifest.json").read_text())


def _prepare_ok(root: Path, capsys, params: str = "params.yaml") -> None:
    code, err = run_prepare(root, capsys, params)
    assert code == 0, err


def _logged(caplog) -> str:
    text = caplog.text
    caplog.clear()
    return text


def test_pairs_and_manifest(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="stackseg")
    raw = make_raw(tmp_path, stacks=5, frames=3, height=24, width=32)
    write_params(tmp_path)
    _prepare_ok(tmp_path, capsys)
    err = _logged(caplog)
    manifest = _manifest(tmp_path)
    pairs = manifest["pairs"]
    assert len(pairs) == 15
    assert manifest["classes"] == ["disc", "ring", "streak"]
    assert manifest["image_channels"] == 1
    assert set(manifest["stacks"]) == {f"s{i}" for i in range(5)}
    # every split has a stack, and a stack's frames never straddle splits
    assert {p["split"] for p in pairs} == {"train", "val", "test"}
    for name, stack in manifest["stacks"].items():
        assert {p["split"] for p in pairs if p["stack"] == name} == {stack["split"]}
        assert re.fullmatch(r"xxh3-128:[0-9a-f]{32}:[0-9a-f]{32}", stack["source_hash"])
        assert stack["scaling"] == {"source_dtype": "uint8", "method": "none"}
    order = [("train", "val", "test").index(p["split"]) for p in pairs]
    assert order == sorted(order)
    assert [(p["stack"], p["frame"]) for p in pairs if p["split"] == "train"] == sorted(
        (p["stack"], p["frame"]) for p in pairs if p["split"] == "train"
    )
    # files match the manifest and the raw frames
    prepared = tmp_path / PREPARED
    on_disk = {str(p.relative_to(prepared)) for p in prepared.rglob("*.*")} - {"manifest.json"}
    assert on_disk == {p["image"] for p in pairs} | {p["mask"] for p in pairs}
    pair = next(p for p in pairs if p["stack"] == "s2" and p["frame"] == 1)
    assert pair["image"] == f"{pair['split']}/images/s2_f0001.jpg"
    raw_mask = tifffile.imread(raw / "masks" / "s2.tif")[1]
    png = np.asarray(Image.open(prepared / pair["mask"]))
    np.testing.assert_array_equal(png, raw_mask * 255)
    assert pair["class_fraction"] == [round(float(raw_mask[..., k].mean()), 6) for k in range(3)]
    jpg = Image.open(prepared / pair["image"])
    assert (jpg.mode, jpg.size, pair["height"], pair["width"]) == ("L", (32, 24), 24, 32)
    # class balance per split: in the manifest and in the log
    balance = manifest["splits"]["train"]
    assert balance["pairs"] == sum(p["split"] == "train" for p in pairs)
    expected = np.mean([p["class_fraction"] for p in pairs if p["split"] == "train"], axis=0)
    np.testing.assert_allclose(balance["class_fraction"], expected, atol=1e-6)
    assert "train" in err and "foreground per class: disc" in err


def test_uint16_rgb_index_masks_and_frame_split(tmp_path, capsys):
    rng = np.random.default_rng(5)
    raw = tmp_path / "data" / "raw"
    for name in ("cells 01", "cells-02"):
        images = rng.integers(1000, 5000, (6, 20, 28, 3), dtype=np.uint16)
        write_image(raw / "images" / f"{name}.tiff", images, compression="zlib")
        write_mask(raw / "masks" / f"{name}.tif", rng.integers(0, 3, (6, 20, 28), dtype=np.uint8))
    write_params(tmp_path, classes=["a", "b"], mask_format="index", split_by="frame")
    _prepare_ok(tmp_path, capsys)
    manifest = _manifest(tmp_path)
    assert manifest["image_channels"] == 3
    assert set(manifest["stacks"]) == {"cells_01", "cells-02"}
    stack = manifest["stacks"]["cells_01"]
    assert stack["image"] == "images/cells 01.tiff"
    assert stack["scaling"]["method"] == "percentile"
    assert 1000 <= stack["scaling"]["low"] < stack["scaling"]["high"] <= 4999
    assert {p["split"] for p in manifest["pairs"]} == {"train", "val", "test"}
    pair = manifest["pairs"][0]
    png = Image.open(tmp_path / PREPARED / pair["mask"])
    assert png.mode == "RGB"  # 2 classes in R and G, B unused
    assert not np.asarray(png)[..., 2].any()
    assert Image.open(tmp_path / PREPARED / pair["image"]).mode == "RGB"


def test_incremental_run_redoes_only_changed_stacks_and_equals_a_clean_run(
    tmp_path, capsys, caplog
):
    caplog.set_level(logging.INFO, logger="stackseg")
    raw = make_raw(tmp_path, stacks=5)
    write_params(tmp_path)
    _prepare_ok(tmp_path, capsys)
    prepared = tmp_path / PREPARED
    first = inodes(prepared)
    # change one stack, remove one, rename one
    rng = np.random.default_rng(99)
    write_mask(raw / "masks" / "s1.tif", mask_frames(rng, 3, 24, 32))
    for kind in ("images", "masks"):
        (raw / kind / "s3.tif").unlink()
        (raw / kind / "s4.tif").rename(raw / kind / "renamed.tif")
    caplog.clear()
    _prepare_ok(tmp_path, capsys)
    err = _logged(caplog)
    assert "(2 stacks redone, 2 unchanged)" in err
    second = inodes(prepared)
    unchanged = [path for path in second if Path(path).name.startswith(("s0_", "s2_"))]
    assert len(unchanged) == 12
    assert all(second[path] == first[path] for path in unchanged if path in first)
    redone = [path for path in second if Path(path).name.startswith("s1_")]
    assert redone and all(second[path] != first.get(path) for path in redone)
    assert not [path for path in second if Path(path).name.startswith(("s3_", "s4_"))]
    # byte for byte the same as a clean run into a fresh directory
    write_params(tmp_path, prepared="clean/prepared")
    _prepare_ok(tmp_path, capsys)
    assert tree(prepared) == tree(tmp_path / "clean" / "prepared")


def test_changing_an_output_param_redoes_every_stack(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="stackseg")
    make_raw(tmp_path, stacks=3)
    write_params(tmp_path)
    _prepare_ok(tmp_path, capsys)
    first = inodes(tmp_path / PREPARED)
    write_params(tmp_path, jpeg_quality=80)
    caplog.clear()
    _prepare_ok(tmp_path, capsys)
    err = _logged(caplog)
    assert "(3 stacks redone, 0 unchanged)" in err
    second = inodes(tmp_path / PREPARED)
    assert not {path for path in second if path != "manifest.json" and second[path] == first[path]}


def test_changing_the_split_seed_moves_pairs_without_re_encoding(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="stackseg")
    make_raw(tmp_path, stacks=6)
    write_params(tmp_path)
    _prepare_ok(tmp_path, capsys)
    before = {name: stack["split"] for name, stack in _manifest(tmp_path)["stacks"].items()}
    params = tmp_path / "params.yaml"
    params.write_text(params.read_text().replace("seed: 42", "seed: 7"))
    caplog.clear()
    _prepare_ok(tmp_path, capsys)
    err = _logged(caplog)
    assert "(0 stacks redone, 6 unchanged)" in err
    moved = _manifest(tmp_path)
    assert before != {name: stack["split"] for name, stack in moved["stacks"].items()}
    shutil.copy(params, tmp_path / "clean.yaml")
    text = (tmp_path / "clean.yaml").read_text().replace("data/prepared", "clean/prepared")
    (tmp_path / "clean.yaml").write_text(text)
    _prepare_ok(tmp_path, capsys, "clean.yaml")
    assert moved == _manifest(tmp_path, Path("clean/prepared"))
    assert tree(tmp_path / PREPARED) == tree(tmp_path / "clean" / "prepared")


def _prepare_in_a_new_process(root: Path) -> subprocess.CompletedProcess:
    """`stackseg prepare` in a fresh interpreter; stdout: exit code and the heavy modules the
    parent process imported."""
    script = (
        "import sys\n"
        "from stackseg.cli import main\n"
        "code = main(['prepare'])\n"
        "heavy = {m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'cv2', 'tifffile'}\n"
        "print(code, sorted(heavy))\n"
    )
    return subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True)


def test_worker_processes_give_the_same_bytes_and_parent_stays_light(tmp_path, capsys):
    make_raw(tmp_path, stacks=4)
    write_params(tmp_path, prepared="pool/prepared", workers=2)
    proc = _prepare_in_a_new_process(tmp_path)
    # the parent never imports TensorFlow; with a pool even the pixel code stays in workers
    assert proc.stdout.strip() == "0 []", proc.stderr
    assert "2 worker process(es)" in proc.stderr
    write_params(tmp_path, workers=1)
    _prepare_ok(tmp_path, capsys)
    assert tree(tmp_path / "data" / "prepared") == tree(tmp_path / "pool" / "prepared")


def test_frames_keep_their_native_size(tmp_path, capsys):
    rng = np.random.default_rng(2)
    raw = tmp_path / "data" / "raw"
    write_pair(
        raw, "tall", rng.integers(0, 256, (3, 37, 11), dtype=np.uint8), mask_frames(rng, 3, 37, 11)
    )
    write_params(tmp_path, split={"train": 1.0, "val": 0.0, "test": 0.0})
    _prepare_ok(tmp_path, capsys)
    prepared = tmp_path / PREPARED
    assert Image.open(prepared / "train/images/tall_f0002.jpg").size == (11, 37)
    assert Image.open(prepared / "train/masks/tall_f0000.png").size == (11, 37)


def _spy_jobs(monkeypatch) -> list:
    """Record the jobs each prepare run hands to the workers."""
    from stackseg.prepare import stage

    seen: list = []
    original = stage._run

    def spy(workers, jobs):
        seen.append([(job.name, job.first, job.stop) for job in jobs])
        return original(workers, jobs)

    monkeypatch.setattr(stage, "_run", spy)
    return seen


def test_stacks_split_into_jobs_give_the_same_bytes_as_whole_stacks(tmp_path, capsys, monkeypatch):
    from stackseg.prepare import jobs

    make_raw(tmp_path, stacks=3, frames=7)
    seen = _spy_jobs(monkeypatch)
    write_params(tmp_path, prepared="whole/prepared")
    _prepare_ok(tmp_path, capsys)
    assert sorted(seen[-1]) == [(f"s{i}", 0, 7) for i in range(3)]
    monkeypatch.setattr(jobs, "FRAMES_PER_JOB", 3)
    write_params(tmp_path, prepared="parts/prepared", workers=2)
    _prepare_ok(tmp_path, capsys)
    # 7 frames, at most 3 a job: 2 + 2 + 3 (near-equal parts), for every stack
    parts = sorted(seen[-1])
    assert parts == [(f"s{i}", a, b) for i in range(3) for a, b in ((0, 2), (2, 4), (4, 7))]
    assert tree(tmp_path / "whole" / "prepared") == tree(tmp_path / "parts" / "prepared")


def test_problems_found_by_several_jobs_are_reported_in_frame_order(tmp_path, capsys, monkeypatch):
    from stackseg.prepare import jobs

    raw = make_raw(tmp_path, stacks=3, frames=13)
    masks = mask_frames(np.random.default_rng(1), 13, 24, 32)
    masks[:, 0, 0, 0] = 7  # every frame is bad
    write_mask(raw / "masks" / "s1.tif", masks)
    monkeypatch.setattr(jobs, "FRAMES_PER_JOB", 4)
    write_params(tmp_path, workers=2)
    code, err = run_prepare(tmp_path, capsys)
    assert code == 3
    lines = [line for line in err.splitlines() if "s1.tif" in line]
    path = raw / "masks" / "s1.tif"
    message = "mask values 7 are not binary"
    for frame, line in enumerate(lines[:10]):  # in frame order although jobs end unordered
        assert line.split(f"{path.name} ", 1)[1].startswith(f"frame {frame}: {message}"), lines
    assert lines[10].endswith(f"{path.name}: 3 more frames with problems (frames 10..12)"), lines
    assert len(lines) == 11
    assert not (tmp_path / "data" / "prepared").exists()


def test_a_missing_pair_file_redoes_its_stack_with_each_pair_once(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="stackseg")
    make_raw(tmp_path, stacks=3, frames=6)
    write_params(tmp_path)
    _prepare_ok(tmp_path, capsys)
    lost = next(p for p in _manifest(tmp_path)["pairs"] if p["stack"] == "s0" and p["frame"] == 4)
    (tmp_path / PREPARED / lost["image"]).unlink()  # someone removed one file of the output
    _logged(caplog)
    _prepare_ok(tmp_path, capsys)
    assert "1 stacks redone, 2 unchanged" in _logged(caplog)
    keys = [(p["stack"], p["frame"]) for p in _manifest(tmp_path)["pairs"]]
    assert len(keys) == len(set(keys)) == 18
    write_params(tmp_path, prepared="clean/prepared")
    _prepare_ok(tmp_path, capsys)
    assert tree(tmp_path / PREPARED) == tree(tmp_path / "clean" / "prepared")


def test_one_big_stack_is_spread_over_the_workers(tmp_path):
    make_raw(tmp_path, stacks=1, frames=300, height=8, width=8)
    write_params(tmp_path, workers=2)
    proc = _prepare_in_a_new_process(tmp_path)
    assert proc.stdout.strip() == "0 []", proc.stderr
    assert "1 stacks in data/raw, 2 worker process(es)" in proc.stderr


def test_each_stack_summary_line_follows_its_own_lines(tmp_path, capsys):
    raw = make_raw(tmp_path, stacks=3, frames=13)
    for name in ("s0", "s1"):
        masks = mask_frames(np.random.default_rng(1), 13, 24, 32)
        masks[:, 0, 0, 0] = 7
        write_mask(raw / "masks" / f"{name}.tif", masks)
    write_params(tmp_path)
    code, err = run_prepare(tmp_path, capsys)
    assert code == 3
    lines = [line.split("masks/")[1] for line in err.splitlines() if "masks/" in line]
    assert lines[10] == "s0.tif: 3 more frames with problems (frames 10..12)", lines
    assert lines[11].startswith("s1.tif frame 0:") and len(lines) == 22, lines


def test_verbose_logs_a_timeline_of_the_run(tmp_path):
    make_raw(tmp_path, stacks=3)
    write_params(tmp_path, workers=2)
    proc = subprocess.run(
        [sys.executable, "-m", "stackseg.cli", "-v", "prepare"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    stamped = re.findall(r"^stackseg +(\d+) ms DEBUG: (.+)$", proc.stderr, re.M)
    steps = [message for _, message in stamped]
    for step in (
        "starting 2 worker processes",
        "metadata of 6 files read",
        "all jobs done",
        "manifest written, output in place",
    ):
        assert step in steps, proc.stderr
    at = {message: int(ms) for ms, message in stamped}  # milliseconds since start
    assert at["starting 2 worker processes"] <= at["metadata of 6 files read"]
    assert at["metadata of 6 files read"] <= at["all jobs done"]
    assert at["all jobs done"] <= at["manifest written, output in place"]


def test_lzw_masks_give_the_same_pairs_as_uncompressed_ones(tmp_path, capsys):
    rng = np.random.default_rng(5)
    raw = tmp_path / "data" / "raw"
    for index in range(3):
        name = f"s{index}"
        write_image(raw / "images" / f"{name}.tif", rng.integers(0, 256, (4, 20, 30), np.uint8))
        write_mask(raw / "masks" / f"{name}.tif", mask_frames(rng, 4, 20, 30), compression="lzw")
    write_params(tmp_path)
    _prepare_ok(tmp_path, capsys)
    for pair in _manifest(tmp_path)["pairs"]:
        want = tifffile.imread(raw / "masks" / f"{pair['stack']}.tif")[pair["frame"]]
        np.testing.assert_array_equal(
            np.asarray(Image.open(tmp_path / PREPARED / pair["mask"])), want * 255
        )
    lzw = tree(tmp_path / PREPARED)
    # the same masks stored uncompressed: byte for byte the same pairs and manifest records
    for index in range(3):
        path = raw / "masks" / f"s{index}.tif"
        write_mask(path, tifffile.imread(path))
    write_params(tmp_path, prepared="plain/prepared")
    _prepare_ok(tmp_path, capsys)
    plain = tree(tmp_path / "plain" / "prepared")
    assert {k: v for k, v in plain.items() if k != "manifest.json"} == {
        k: v for k, v in lzw.items() if k != "manifest.json"
    }


def _dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def test_a_killed_runs_leftovers_go_and_a_live_runs_stay(tmp_path, capsys):
    make_raw(tmp_path, stacks=3)
    write_params(tmp_path)
    parent = tmp_path / "data"
    dead = parent / f".prepared.tmp-{_dead_pid()}-abc"
    live = parent / f".prepared.tmp-{os.getppid()}-def"  # the test runner's parent is alive
    for leftover in (dead, live):
        (leftover / "train" / "images").mkdir(parents=True)
    _prepare_ok(tmp_path, capsys)
    assert not dead.exists()
    assert live.is_dir()  # another run may still be building it
    # nothing of this run is left beside the output
    assert sorted(p.name for p in parent.iterdir()) == [live.name, "prepared", "raw"]


def test_a_failed_run_leaves_no_temporary_directory(tmp_path, capsys):
    raw = make_raw(tmp_path, stacks=3)
    write_params(tmp_path)
    _prepare_ok(tmp_path, capsys)
    before = tree(tmp_path / PREPARED)
    masks = mask_frames(np.random.default_rng(3), 3, 24, 32)
    masks[1, 0, 0, 0] = 9  # a value check, found while the pairs are being written
    write_mask(raw / "masks" / "s2.tif", masks)
    code, err = run_prepare(tmp_path, capsys)
    assert code == 3 and "s2.tif frame 1: mask values 9 are not binary" in err
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["prepared", "raw"]
    assert tree(tmp_path / PREPARED) == before


def test_a_previous_manifest_that_fails_the_contract_redoes_every_stack(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="stackseg")
    make_raw(tmp_path, stacks=3)
    write_params(tmp_path)
    _prepare_ok(tmp_path, capsys)
    clean = tree(tmp_path / PREPARED)
    path = tmp_path / PREPARED / "manifest.json"
    broken = _manifest(tmp_path)
    del broken["pairs"][0]["height"]  # fingerprint unchanged, but not a valid Manifest
    path.write_text(json.dumps(broken))
    _logged(caplog)
    _prepare_ok(tmp_path, capsys)
    log = _logged(caplog)
    assert "pairs.0.height: Field required" in log and "redoing every stack" in log
    assert "(3 stacks redone, 0 unchanged)" in log
    assert tree(tmp_path / PREPARED) == clean
    # the output is what every reader reads: the contract's reader accepts it
    assert len(read_manifest(tmp_path / PREPARED, ["disc", "ring", "streak"]).pairs) == 9


def test_a_split_too_small_to_trust_is_warned_about(tmp_path, capsys, caplog):
    """4 stacks of 3 frames split 0.5/0.25/0.25: val and test get one stack of 3 pairs."""
    caplog.set_level(logging.INFO, logger="stackseg")
    make_raw(tmp_path, stacks=4, frames=3)
    split = {"train": 0.5, "val": 0.25, "test": 0.25}
    write_params(tmp_path, split=split, min_split_stacks=2, min_split_pairs=3)
    _prepare_ok(tmp_path, capsys)
    text = _logged(caplog)
    warned = sorted(re.findall(r"split (\w+) has only (\d+) stack\(s\)", text))
    assert warned == [("test", "1"), ("val", "1")], text  # train: 2 stacks, 6 pairs
    assert "prepare.min_split_stacks 2, min_split_pairs 3" in text
    write_params(tmp_path, split=split, min_split_stacks=0, min_split_pairs=0)
    _prepare_ok(tmp_path, capsys)
    assert "has only" not in _logged(caplog)
