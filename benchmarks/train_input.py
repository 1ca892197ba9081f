"""Is the tf.data input the bottleneck of training? (demo dataset, params.yaml's model)

    .venv/bin/python benchmarks/train_input.py [--work DIR] [--epochs N] [--repeats N]

Trains the same compiled model, same batches, three ways and reports the time per step:
  (m) in-memory tensors: the exact batches of the pipeline, materialised beforehand
      (the floor: no reading, decoding, cropping or augmenting during training),
  (u) uncached: the pipeline reading and decoding the jpg/png files every epoch (what the
      first epoch costs when data is read from disk; every epoch if the cache does not fit),
  (c) cached: the pipeline over the decoded pairs held in memory (later epochs).
Each variant gets a warm-up epoch (tracing), then --epochs timed epochs; the three are run
--repeats times in turn, so a busy machine skews them alike. Reported per step: the median
and the minimum wall time over the repeats, and the median CPU time of the process (user +
system, all threads: what the input work costs even when it overlaps with training).
Targets on the median wall time: u / m <= 1.15, c / m <= 1.05. Also prints the one-off
time to build the cache.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from functools import reduce
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _demo_data import prepared_demo  # noqa: E402
from _figures import write_figures  # noqa: E402

TARGETS = {"uncached": 1.15, "cached": 1.05}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "stackseg-bench")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    project = prepared_demo(args.work)
    os.chdir(project)

    import numpy as np
    import tensorflow as tf

    from stackseg.config import load_config
    from stackseg.models import build_model
    from stackseg.train.dataset import PairSource, train_dataset
    from stackseg.train.determinism import configure_determinism
    from stackseg.train.prepared import read_prepared
    from stackseg.train.stage import compile_model

    cfg = load_config("params.yaml")
    t = cfg.train
    configure_determinism(cfg.seed)
    data = read_prepared(cfg.paths.prepared, list(cfg.classes))
    pairs, channels, k = data.splits["train"], data.image_channels, len(cfg.classes)

    started = time.perf_counter()
    cached_source = PairSource(pairs, channels, k, in_memory=True)
    cache_seconds = time.perf_counter() - started
    disk_source = PairSource(pairs, channels, k, in_memory=False)
    epochs = args.epochs + 1  # + warm-up

    def pipeline(source, first: int, last: int):
        return train_dataset(source, t, cfg.seed, first, last)[0]

    # the floor: the very same batches, decoded and augmented beforehand, served from
    # in-memory arrays (slicing and batching only)
    in_memory_epochs = []
    for epoch in range(epochs):
        batches = list(pipeline(cached_source, epoch, epoch + 1).as_numpy_iterator())
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        in_memory_epochs.append(tf.data.Dataset.from_tensor_slices((x, y)).batch(t.batch_size))

    def in_memory(first: int, last: int):
        return reduce(lambda a, b: a.concatenate(b), in_memory_epochs[first:last])

    variants = {
        "in-memory": in_memory,
        "uncached": lambda first, last: pipeline(disk_source, first, last),
        "cached": lambda first, last: pipeline(cached_source, first, last),
    }
    steps = math.ceil(len(pairs) / t.batch_size)

    model = build_model(t, k, channels)
    compile_model(model, cfg)
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, make in variants.items():
            model.fit(make(0, 1), steps_per_epoch=steps, shuffle=False, verbose=0)  # warm-up
            started, cpu_started = time.perf_counter(), process_cpu()
            model.fit(
                make(1, epochs), steps_per_epoch=steps, epochs=args.epochs, shuffle=False, verbose=0
            )
            wall[name].append((time.perf_counter() - started) / (args.epochs * steps))
            cpu[name].append((process_cpu() - cpu_started) / (args.epochs * steps))
            print(
                f"repeat {repeat + 1} {name:>9}: {1000 * wall[name][-1]:7.1f} ms/step wall, "
                f"{1000 * cpu[name][-1]:7.1f} ms/step CPU",
                flush=True,
            )

    summary = (
        f"demo data: {len(pairs)} train pairs, {steps} steps of {t.batch_size} per epoch, "
        f"crops {t.image_size}px; cache built in {cache_seconds:.2f} s"
    )
    rows = [(name, wall[name], statistics.median(cpu[name])) for name in variants]
    text, failed = figures_table(rows)
    print(f"\n{summary}\n{text}")
    write_figures("train_input", f"{summary}\n\n{figures_markdown(rows)}")
    return 1 if failed else 0


def ratios(rows: list[tuple[str, list[float], float]]) -> list[tuple[str, float, float | None]]:
    """(name, median wall / in-memory median wall, target) per variant; the first is the base."""
    base = statistics.median(rows[0][1])
    return [(name, statistics.median(w) / base, TARGETS.get(name)) for name, w, _ in rows]


def figures_table(rows: list[tuple[str, list[float], float]]) -> tuple[str, bool]:
    """The terminal table (ms per step) and whether a target was missed.

    rows: (variant, wall seconds per step of each repeat, median CPU seconds per step)."""
    lines = [f"{'ms/step':>10} {'median':>8} {'min':>8} {'CPU':>8} {'ratio':>6} {'target':>8}"]
    failed = False
    for (name, w, c), (_, ratio, target) in zip(rows, ratios(rows), strict=True):
        ok = target is None or ratio <= target
        failed |= not ok
        target_text = f"<= {target:.2f}" if target else ""
        lines.append(
            f"{name:>10} {1000 * statistics.median(w):8.1f} {1000 * min(w):8.1f} "
            f"{1000 * c:8.1f} {ratio:6.3f} {target_text:>8}{'' if ok else '  MISSED'}"
        )
    return "\n".join(lines), failed


def figures_markdown(rows: list[tuple[str, list[float], float]]) -> str:
    """The same table in Markdown, for docs/benchmarks/train_input.md."""
    lines = ["| ms/step | median | min | CPU | ratio | target |", "|---|---:|---:|---:|---:|---|"]
    for (name, w, c), (_, ratio, target) in zip(rows, ratios(rows), strict=True):
        verdict = (
            "" if target is None else f"<= {target:.2f}" + ("" if ratio <= target else " MISSED")
        )
        lines.append(
            f"| {name} | {1000 * statistics.median(w):.1f} | {1000 * min(w):.1f} "
            f"| {1000 * c:.1f} | {ratio:.3f} | {verdict} |"
        )
    return "\n".join(lines)


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
