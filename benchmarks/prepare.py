"""Benchmark of the prepare stage on the full-scale dataset (41 stacks x 490 frames, 256 px).

    .venv/bin/python benchmarks/prepare.py [--raw DIR] [--work DIR] [--workers N]

One run measures, on the same stacks:
  (a) a plain single-process loop with Pillow's defaults (JPEG quality 75, PNG level 6),
  (b) `stackseg prepare` as a user runs it (clean output, all cores unless --workers),
  (c) the encode-only bound: the codecs and settings of (b) on frames already in memory,
      all cores, no file writes (total encode time / workers),
and prints pairs/s, the ratios b/a and b/c, and the peak memory of (b): the highest sum of
RSS over the stage's process and all its workers, sampled every 20 ms.
Targets (2 cores): b >= 3x a, b >= 0.6x c, peak RSS <= 300 MB.

Without --raw the dataset is `stackseg synth --full` written to <work>/raw once (or, if that
command is not available, equivalent uint8 stacks written here with tifffile).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import psutil
import tifffile
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGETS = {"b_over_a": 3.0, "b_over_c": 0.6, "peak_rss_mb": 300.0}


def write_stacks(raw: Path, stacks: int, frames: int, size: int, seed: int = 0) -> None:
    """Textured, noisy uint8 stacks with 3 moving binary classes (fallback dataset)."""
    rng = np.random.default_rng(seed)
    (raw / "images").mkdir(parents=True, exist_ok=True)
    (raw / "masks").mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    noise = rng.normal(0, 12, (8, size, size)).astype(np.float32)
    for s in range(stacks):
        fx, fy = rng.uniform(0.03, 0.12, 2)
        texture = 40 * np.sin(xx * fx) * np.cos(yy * fy)
        name = f"stack_{s:02d}"
        with (
            tifffile.TiffWriter(raw / "images" / f"{name}.tif") as images,
            tifffile.TiffWriter(raw / "masks" / f"{name}.tif") as masks,
        ):
            for f in range(frames):
                t = f / max(frames - 1, 1)
                cx, cy = size * (0.2 + 0.5 * t), size * (0.3 + 0.3 * np.sin(6 * t + s))
                disc = (xx - cx) ** 2 + (yy - cy) ** 2 < (size * 0.08) ** 2
                radius = np.hypot(xx - size * 0.65, yy - size * (0.7 - 0.3 * t))
                ring = np.abs(radius - size * 0.12) < size * 0.02
                streak = np.abs(xx - yy - size * (0.4 * t - 0.2)) < size * 0.015
                mask = np.stack([disc, ring, streak], axis=-1).astype(np.uint8)
                image = 110 + texture + noise[f % 8] + 50 * disc + 35 * ring - 40 * streak
                images.write(image.clip(0, 255).astype(np.uint8), photometric="minisblack")
                masks.write(mask, photometric="rgb")


def ensure_dataset(work: Path) -> Path:
    raw = work / "raw"
    if (raw / "images").is_dir() and any((raw / "images").iterdir()):
        return raw
    proc = subprocess.run(
        [str(BIN / "stackseg"), "synth", "--full", "--out", str(raw)],
        cwd=work,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        print("stackseg synth --full unavailable; writing equivalent stacks with tifffile")
        shutil.rmtree(raw, ignore_errors=True)
        write_stacks(raw, stacks=41, frames=490, size=256)
    return raw


def stack_files(raw: Path) -> list[tuple[str, Path, Path]]:
    images = sorted(p for p in (raw / "images").iterdir() if p.suffix in (".tif", ".tiff"))
    return [(p.stem, p, next((raw / "masks").glob(p.stem + ".tif*"))) for p in images]


def _frames(path: Path, class_axis: int | None):
    from stackseg.data.tiff_io import StackReader, read_layout

    layout = read_layout(str(path), class_axis)
    with StackReader(layout) as reader:
        for index in range(layout.frames):
            yield reader.frame(index)


def run_pillow_loop(raw: Path, out: Path) -> int:
    """(a): one process, tifffile page by page, Pillow with its default settings."""
    out.mkdir(parents=True)
    pairs = 0
    for name, image_path, mask_path in stack_files(raw):
        frames = zip(_frames(image_path, None), _frames(mask_path, 3), strict=True)
        for index, (image, mask) in enumerate(frames):
            Image.fromarray(image).save(out / f"{name}_f{index:04d}.jpg")
            Image.fromarray(((mask != 0) * 255).astype(np.uint8)).save(
                out / f"{name}_f{index:04d}.png"
            )
            pairs += 1
    return pairs


def _encode_stack(
    image_path: str, mask_path: str, quality: int, n_classes: int
) -> tuple[float, int]:
    """(c) in one worker: load a stack into memory (untimed), then time the encoders only."""
    from stackseg.data.encode import encode_jpeg, encode_png
    from stackseg.data.masks import MaskConverter

    images = list(_frames(Path(image_path), None))
    if images[0].dtype != np.uint8:
        raise SystemExit("the encode bound expects uint8 images")
    masks = list(_frames(Path(mask_path), n_classes))
    convert = MaskConverter("channels", n_classes, str(masks[0].dtype))
    masks = [convert(mask)[0] for mask in masks]
    start = time.perf_counter()
    for image, mask in zip(images, masks, strict=True):
        encode_jpeg(image, quality)
        encode_png(mask)
    return time.perf_counter() - start, len(images)


def run_encode_bound(raw: Path, workers: int, quality: int, n_classes: int) -> tuple[float, int]:
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_encode_stack, str(image), str(mask), quality, n_classes)
            for _, image, mask in stack_files(raw)
        ]
        results = [future.result() for future in futures]
    return sum(seconds for seconds, _ in results) / workers, sum(n for _, n in results)


class RssSampler(threading.Thread):
    """Highest sum of RSS over a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.02):
        super().__init__(daemon=True)
        self.root, self.interval, self.peak = psutil.Process(pid), interval, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(self.interval)


def run_stage(work: Path, raw: Path, workers: int) -> tuple[float, float, dict]:
    """(b): `stackseg prepare` in a subprocess on a clean output; (seconds, peak MB, params)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["paths"]["raw"] = str(raw)
    params["paths"]["prepared"] = str(work / "b" / "prepared")
    params["prepare"]["workers"] = workers
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.rmtree(work / "b", ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "stackseg"), "prepare", "--params", "params.yaml"], cwd=work)
    sampler = RssSampler(proc.pid)
    sampler.start()
    code = proc.wait()
    seconds = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"stackseg prepare failed with exit code {code}")
    return seconds, sampler.peak / 2**20, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--raw", type=Path, help="raw dir with images/ and masks/ (default: synth --full)"
    )
    parser.add_argument("--work", type=Path, help="scratch dir (default: a new temp dir)")
    parser.add_argument("--workers", type=int, default=0, help="prepare workers (0 = all cores)")
    parser.add_argument("--skip-pillow", action="store_true", help="skip (a), the slowest part")
    args = parser.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="stackseg-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    raw = args.raw.resolve() if args.raw else ensure_dataset(work)
    cores = args.workers or len(os.sched_getaffinity(0))
    print(f"dataset {raw}, {cores} worker(s), scratch {work}")

    b_seconds, peak_mb, params = run_stage(work, raw, args.workers)
    pairs = len(list((work / "b" / "prepared").glob("*/images/*.jpg")))
    n_classes = len(params["classes"])
    c_seconds, c_pairs = run_encode_bound(raw, cores, params["prepare"]["jpeg_quality"], n_classes)
    if c_pairs != pairs:
        raise SystemExit(f"(c) encoded {c_pairs} pairs but (b) wrote {pairs}")
    a_seconds = None
    if not args.skip_pillow:
        shutil.rmtree(work / "a", ignore_errors=True)
        start = time.perf_counter()
        run_pillow_loop(raw, work / "a")
        a_seconds = time.perf_counter() - start

    print(f"\n{pairs} pairs")
    rows = [("(a) Pillow loop, 1 process", a_seconds), ("(b) stackseg prepare", b_seconds)]
    rows.append((f"(c) encode-only bound, {cores} cores", c_seconds))
    for label, seconds in rows:
        if seconds is not None:
            print(f"{label:36s} {seconds:7.1f} s  {pairs / seconds:8.0f} pairs/s")
    verdict = []
    if a_seconds is not None:
        b_over_a = a_seconds / b_seconds
        verdict.append(
            ("b/a", b_over_a, b_over_a >= TARGETS["b_over_a"], f">= {TARGETS['b_over_a']}")
        )
    b_over_c = c_seconds / b_seconds
    verdict.append(("b/c", b_over_c, b_over_c >= TARGETS["b_over_c"], f">= {TARGETS['b_over_c']}"))
    verdict.append(("peak RSS (b), MB", peak_mb, peak_mb <= TARGETS["peak_rss_mb"], "<= 300"))
    for label, value, ok, target in verdict:
        print(f"{label:36s} {value:7.2f}   target {target:7s} {'ok' if ok else 'MISSED'}")
    shutil.rmtree(work / "a", ignore_errors=True)
    shutil.rmtree(work / "b", ignore_errors=True)


if __name__ == "__main__":
    main()
