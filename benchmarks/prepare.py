"""Benchmark of the prepare stage on the full-scale dataset (41 stacks x 490 frames, 256 px).

    .venv/bin/python benchmarks/prepare.py [--raw DIR] [--work DIR] [--workers N] [--repeat N]

One run measures, on the same stacks:
  (a) a plain single-process loop with Pillow's defaults (JPEG quality 75, PNG level 6),
  (b) `stackseg prepare` as a user runs it (clean output, all cores unless --workers),
  (c) the encode-only bound: the codecs and settings of (b) on frames already in memory,
      all cores, no file writes (total encode time / workers),
  (w) for context, the file system alone: creating (b)'s files from bytes in memory,
and prints pairs/s, the ratios b/a and b/c, and the peak memory of (b): the highest sum of
RSS over the stage's process and all its workers, sampled every 20 ms. Other programs on the
machine skew wall-clock times (a lone process suffers less than a pool), so it also prints
CPU seconds (user + system, all processes) and the ratios computed from them. (b) and (c)
run --repeat times, alternating; the table shows their medians, and b/c is the median of
the ratios of each (b) to the (c) right after it.
Targets (2 cores): b >= 3x a, b >= 0.6x c, peak RSS <= 300 MB. The table and the per-run
lines are also written to docs/benchmarks/prepare.md (`_figures.write_figures`), which the
docs include.

Without --raw the dataset is `stackseg synth --full`, written to <work>/raw on the first run
(pass the same --work again to reuse it).

File creation on ext4 without a journal (such as this project's CI-class VM) is several
times slower for up to six minutes after many files were deleted: to keep recently freed
inodes recoverable, the kernel's inode allocator skips each of them one by one (ialloc.c,
recently_deleted(): 60 s, or 360 s while their inode-table block is dirty). Deleting an
earlier run's output is enough to skew (b) and (w). So each run deletes its outputs at the
end and notes the time in <work>/.last-cleanup, and the next run with the same --work waits
until six minutes have passed (--no-settle skips the wait; other programs' deletions are not
known, so run the benchmark on a quiet machine).

`--drop-caches` (root only) syncs and drops the kernel's caches before every (b) and (w),
then reads the raw stacks and imports the stage's code once, so that each of them starts
with the stacks and libraries in the page cache and no file system state left by earlier
runs: an inode-table block that is no longer cached is not checked for recent deletions
(recently_deleted() gives up when the block is not in the buffer cache), so with this
option the six-minute wait is skipped too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
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
import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _figures import write_figures  # noqa: E402

from stackseg.contracts import read_manifest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGETS = {"b_over_a": 3.0, "b_over_c": 0.6, "peak_rss_mb": 300.0}
SETTLE_SECONDS = 6 * 60  # see the module docstring
CLEANUP_STAMP = ".last-cleanup"


def ensure_dataset(work: Path) -> Path:
    """<work>/raw holding `stackseg synth --full` (written once, reused by later runs)."""
    raw = work / "raw"
    if (raw / "images").is_dir() and any((raw / "images").iterdir()):
        return raw
    print(f"writing the full demo dataset to {raw} (stackseg synth --full, a few minutes)")
    synth = [str(BIN / "stackseg"), "synth", "--params", str(ROOT / "params.yaml")]
    subprocess.run([*synth, "--full", "--out", str(raw)], check=True)
    return raw


def stack_files(raw: Path) -> list[tuple[str, Path, Path]]:
    images = sorted(p for p in (raw / "images").iterdir() if p.suffix in (".tif", ".tiff"))
    return [(p.stem, p, next((raw / "masks").glob(p.stem + ".tif*"))) for p in images]


def _frames(path: Path, class_axis: int | None):
    from stackseg.prepare.frames import StackReader
    from stackseg.prepare.tiff import read_layout

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
    from stackseg.prepare.masks import MaskConverter
    from stackseg.prepare.pairs import encode_jpeg, encode_png

    images = list(_frames(Path(image_path), None))
    if images[0].dtype != np.uint8:
        raise SystemExit("the encode bound expects uint8 images")
    masks = list(_frames(Path(mask_path), n_classes))
    convert = MaskConverter("channels", n_classes, str(masks[0].dtype))
    masks = [convert(mask)[0] for mask in masks]
    start = time.process_time()  # CPU time: other programs on the machine do not count
    for image, mask in zip(images, masks, strict=True):
        encode_jpeg(image, quality)
        encode_png(mask)
    return time.process_time() - start, len(images)


def run_encode_bound(raw: Path, workers: int, quality: int, n_classes: int) -> tuple[float, int]:
    """(c): total encode CPU seconds (wall on `workers` idle cores = this / workers), pairs."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_encode_stack, str(image), str(mask), quality, n_classes)
            for _, image, mask in stack_files(raw)
        ]
        results = [future.result() for future in futures]
    return sum(seconds for seconds, _ in results), sum(n for _, n in results)


def _write_stack(prepared: str, stack: str, out: str) -> float:
    """(w) in one worker: a stack's prepared files in memory (untimed), then timed writes."""
    files = [p for p in Path(prepared).glob(f"*/*/{stack}_f*") if p.is_file()]
    blobs = [(Path(out) / f"{i}{p.suffix}", p.read_bytes()) for i, p in enumerate(files)]
    Path(out).mkdir(parents=True)
    start = time.process_time()  # includes the kernel's (system) time
    for path, data in blobs:
        with open(path, "wb") as handle:
            handle.write(data)
    return time.process_time() - start


def run_write_floor(prepared: Path, scratch: Path, workers: int) -> float:
    """CPU seconds to create (b)'s files from bytes in memory: the file system's share."""
    stacks = read_manifest(prepared).stacks
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_write_stack, str(prepared), name, str(scratch / name)) for name in stacks
        ]
        return sum(future.result() for future in futures)


class RssSampler(threading.Thread):
    """Highest sum of RSS over a process and all its descendants.

    Finding the descendants scans every process on the machine, so the list is refreshed
    only every `refresh` samples (the workers live for the whole run); reading the RSS of
    known processes is cheap and happens every sample. The sampler shares the cores with
    what it measures and must stay light.
    """

    def __init__(self, pid: int, interval: float = 0.02, refresh: int = 10):
        super().__init__(daemon=True)
        self.root, self.interval, self.refresh, self.peak = (
            psutil.Process(pid),
            interval,
            refresh,
            0,
        )
        self.done = threading.Event()
        self.per_process: dict[int, int] = {}  # pid -> its own peak RSS

    def run(self) -> None:
        procs: list[psutil.Process] = []
        samples = 0
        while not self.done.is_set():
            if samples % self.refresh == 0:
                try:
                    procs = [self.root, *self.root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    return
            samples += 1
            total = 0
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    rss = proc.memory_info().rss
                    total += rss
                    self.per_process[proc.pid] = max(self.per_process.get(proc.pid, 0), rss)
            self.peak = max(self.peak, total)
            time.sleep(self.interval)


def run_stage(work: Path, raw: Path, workers: int) -> tuple[float, float, float, dict]:
    """(b): `stackseg prepare` on a clean output, <work>/prepared; (wall s, CPU s of all its
    processes, peak summed RSS in MB, params)."""
    work.mkdir(parents=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["paths"]["raw"] = str(raw)
    params["paths"]["prepared"] = str(work / "prepared")
    params["prepare"]["workers"] = workers
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "stackseg"), "prepare", "--params", "params.yaml"], cwd=work)
    sampler = RssSampler(proc.pid)
    sampler.start()
    code = proc.wait()
    seconds = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before  # the stage waited for its workers: they count too
    sampler.done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"stackseg prepare failed with exit code {code}")
    peaks = sorted((rss / 2**20 for rss in sampler.per_process.values()), reverse=True)
    print("(b) per-process peak RSS, MB:", ", ".join(f"{mb:.0f}" for mb in peaks))
    return seconds, cpu, sampler.peak / 2**20, params


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--raw", type=Path, help="raw dir with images/ and masks/ (default: synth --full)"
    )
    parser.add_argument("--work", type=Path, help="scratch dir (default: a new temp dir)")
    parser.add_argument("--workers", type=int, default=0, help="prepare workers (0 = all cores)")
    parser.add_argument("--skip-pillow", action="store_true", help="skip (a), the slowest part")
    parser.add_argument(
        "--repeat", type=int, default=5, help="(b) and (c) runs, alternating (default 5)"
    )
    parser.add_argument(
        "--drop-caches",
        action="store_true",
        help="root: sync and drop kernel caches before each (b) and (w); no settle wait",
    )
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="do not wait for six minutes after the previous run's cleanup",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    base = (args.work or Path(tempfile.mkdtemp(prefix="stackseg-bench-"))).resolve()
    base.mkdir(parents=True, exist_ok=True)
    raw = args.raw.resolve() if args.raw else ensure_dataset(base)
    # Outputs go to a new directory per run and are deleted only at the end: on ext4
    # without a journal, creating files soon after deleting many is several times slower
    # (the allocator skips recently deleted inodes one by one), which would skew the
    # parts measured after a deletion.
    if not (args.no_settle or args.drop_caches):  # dropped caches make the wait needless
        settle(base / CLEANUP_STAMP)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    cores = args.workers or len(os.sched_getaffinity(0))
    print(f"dataset {raw}, {cores} worker(s), scratch {work}")
    try:
        measure(work, raw, cores, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        (base / CLEANUP_STAMP).touch()  # a failed run deleted files too


def settle(stamp: Path) -> None:
    """Wait until SETTLE_SECONDS have passed since the previous run deleted its files."""
    if not stamp.exists():
        return
    wait = stamp.stat().st_mtime + SETTLE_SECONDS - time.time()
    if wait > 0:
        print(
            f"waiting {wait:.0f} s: the previous run deleted its files less than "
            f"{SETTLE_SECONDS // 60} minutes ago, which slows file creation on ext4 without "
            "a journal (--no-settle skips this)",
            flush=True,
        )
        time.sleep(wait)


def drop_caches(raw: Path) -> None:
    """sync + drop the page, dentry and inode caches, then read the raw stacks and the
    stage's code back in (module docstring)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise SystemExit(f"--drop-caches needs root ({exc.strerror}); run without it") from None
    for path in sorted(raw.rglob("*.tif*")):
        with open(path, "rb", buffering=0) as handle:
            while handle.read(1 << 20):
                pass
    warm = "import stackseg.prepare.stage, stackseg.prepare.pairs, stackseg.config, PIL.Image"
    subprocess.run([sys.executable, "-c", warm], check=True)
    print("kernel caches dropped; raw stacks and code read back into the page cache", flush=True)


def measure(work: Path, raw: Path, cores: int, args) -> None:
    """(b) and (c) alternate `--repeat` times and the medians are reported: this VM's speed
    drifts by +-20% within minutes, so one (b) and one (c) can land on different speeds.
    Every (b) writes a new directory; nothing is deleted before the end (module docstring)."""
    b_runs, c_runs, peak_mb, run_lines = [], [], 0.0, []
    load_start = os.getloadavg()[0]  # other programs' share of the cores, for the figures
    for attempt in range(args.repeat):
        if args.drop_caches:
            drop_caches(raw)
        b_wall, b_cpu, peak, params = run_stage(work / f"b{attempt}", raw, args.workers)
        prepared = work / f"b{attempt}" / "prepared"
        pairs = len(list(prepared.glob("*/images/*.jpg")))
        n_classes = len(params["classes"])
        c_cpu, c_pairs = run_encode_bound(raw, cores, params["prepare"]["jpeg_quality"], n_classes)
        if c_pairs != pairs:
            raise SystemExit(f"(c) encoded {c_pairs} pairs but (b) wrote {pairs}")
        b_runs.append((b_wall, b_cpu))
        c_runs.append(c_cpu)
        peak_mb = max(peak_mb, peak)
        run_lines.append(
            f"run {attempt + 1}/{args.repeat}: (b) {b_wall:.1f} s wall, {b_cpu:.1f} s CPU; "
            f"(c) {c_cpu:.1f} s CPU; b/c {c_cpu / cores / b_wall:.2f} wall, "
            f"{c_cpu / b_cpu:.2f} by CPU"
        )
        print(run_lines[-1], flush=True)
    if args.drop_caches:
        drop_caches(raw)
    w_cpu = run_write_floor(prepared, work / "w", cores)
    a_wall = a_cpu = None
    if not args.skip_pillow:
        start, cpu_start = time.perf_counter(), time.process_time()
        run_pillow_loop(raw, work / "a")
        a_wall, a_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    b = (statistics.median(w for w, _ in b_runs), statistics.median(c for _, c in b_runs))
    # b/c pairs each (b) with the (c) run right after it, then takes the median
    ratios = (
        statistics.median(c / cores / bw for (bw, _), c in zip(b_runs, c_runs, strict=True)),
        statistics.median(c / bc for (_, bc), c in zip(b_runs, c_runs, strict=True)),
    )
    table = report(
        pairs, cores, (a_wall, a_cpu), b, statistics.median(c_runs), w_cpu, peak_mb, ratios
    )
    print("\n" + "\n".join(table))
    runs = "\n".join(run_lines)
    load = (
        f"Load average (1 min) {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the "
        "end: other programs on the machine skew the wall-clock figures, the CPU-time ones less."
    )
    write_figures("prepare", f"```\n{chr(10).join(table)}\n```\n\n```\n{runs}\n```\n\n{load}\n")


def report(pairs, cores, a, b, c_cpu, w_cpu, peak_mb, b_over_c) -> list[str]:
    """The table's lines: wall-clock figures, and CPU-time figures that other load on the
    machine cannot skew; b_over_c: the medians of the per-run ratios (wall, CPU)."""
    (a_wall, a_cpu), (b_wall, b_cpu) = a, b
    c_wall, w_wall = c_cpu / cores, w_cpu / cores  # computed bounds: perfect use of the cores
    lines = [f"{pairs} pairs, {cores} cores      wall s   pairs/s    CPU s   (b, c: medians)"]
    rows = [
        ("(a) Pillow loop, 1 process", a_wall, a_cpu),
        ("(b) stackseg prepare", b_wall, b_cpu),
        ("(c) encode-only bound (CPU / cores)", c_wall, c_cpu),
        ("(w) file creation only (CPU / cores)", w_wall, w_cpu),
    ]
    for label, wall, cpu in rows:
        if wall is not None:
            lines.append(f"{label:37s} {wall:6.1f} {pairs / wall:9.0f} {cpu:8.1f}")
    checks = [("b/c  (c wall / b wall)", b_over_c[0], TARGETS["b_over_c"])]
    # CPU-time view: b's CPU spread over the cores, i.e. its wall time on an idle machine
    checks.append(("b/c  by CPU time", b_over_c[1], TARGETS["b_over_c"]))
    if a_wall is not None:
        checks.insert(0, ("b/a  (a wall / b wall)", a_wall / b_wall, TARGETS["b_over_a"]))
        checks.insert(1, ("b/a  by CPU time", a_cpu / (b_cpu / cores), TARGETS["b_over_a"]))
    for label, value, target in checks:
        lines.append(
            f"{label:37s} {value:6.2f}   target >= {target:<4} {'ok' if value >= target else 'MISSED'}"
        )
    ok = peak_mb <= TARGETS["peak_rss_mb"]
    lines.append(
        f"{'peak RSS of (b), sum of processes':37s} {peak_mb:6.0f} MB target <= 300  {'ok' if ok else 'MISSED'}"
    )
    return lines


if __name__ == "__main__":
    main()
