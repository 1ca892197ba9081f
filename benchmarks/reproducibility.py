"""What portable reproducibility costs: training speed, train.reproducibility portable vs fast.

    .venv/bin/python benchmarks/reproducibility.py [--work DIR] [--epochs N] [--rounds R]

Trains the demo (params.yaml; --epochs overrides train.epochs, default 4) with
`train.reproducibility` portable and fast, alternating, R rounds (default 2), each run its own
`stackseg train` process (the mode is set before TensorFlow starts). Speed: train pairs /
median epoch time over epochs 2.. (tracing excluded), median over the rounds; and the CPU
seconds of each `stackseg train` process (user + system, start-up included), which a machine
shared with other jobs disturbs less than wall time. The ratios portable / fast are the cost. Also says whether each mode's rounds gave identical weights
(they must) and the two modes' best val IoU. On a 2-core machine portable's 2 threads are
fast's too, so the ratio is the kernel library (portable: oneDNN; fast: TensorFlow's choice
for the CPU), the instruction-set cap and portable's division-based arithmetic.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import sys
import tempfile
from pathlib import Path

from stackseg.contracts import read_manifest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _demo_data import prepared_demo  # noqa: E402
from _figures import write_figures  # noqa: E402
from precision import train  # noqa: E402

MODES = ("portable", "fast")


def summary(
    speeds: dict[str, list[float]],
    cpu: dict[str, list[float]],
    hashes: dict[str, list[str]],
    ious: dict[str, float],
) -> str:
    """The figures as Markdown, for docs/benchmarks/reproducibility.md."""
    lines = [
        "| train.reproducibility | images/s (median; each round) | CPU s per run (median; "
        "each round) | identical weights across rounds | best val IoU |",
        "|---|---:|---:|---|---:|",
    ]
    for mode in MODES:
        same = "yes" if len(set(hashes[mode])) == 1 else "NO"
        each = ", ".join(f"{v:.1f}" for v in speeds[mode])
        each_cpu = ", ".join(f"{v:.0f}" for v in cpu[mode])
        lines.append(
            f"| {mode} | {statistics.median(speeds[mode]):.1f} ({each}) | "
            f"{statistics.median(cpu[mode]):.0f} ({each_cpu}) | {same} | {ious[mode]:.4f} |"
        )
    ratio = statistics.median(speeds["portable"]) / statistics.median(speeds["fast"])
    cpu_ratio = statistics.median(cpu["portable"]) / statistics.median(cpu["fast"])
    return "\n".join(lines) + (
        f"\n\nportable / fast: {ratio:.2f}x images/s, {cpu_ratio:.2f}x CPU seconds per run"
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "stackseg-bench")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    project = prepared_demo(args.work)
    n_train = len(read_manifest(project / "data/prepared").split_pairs("train"))
    speeds: dict[str, list[float]] = {mode: [] for mode in MODES}
    hashes: dict[str, list[str]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    ious: dict[str, float] = {}
    for round_ in range(1, args.rounds + 1):
        for mode in MODES:
            run_dir = args.work / f"reproducibility-{mode}"
            overrides = {"train.reproducibility": mode, "train.epochs": args.epochs}
            before = _children_cpu()
            seconds, card = train(project, run_dir, overrides)
            cpu[mode].append(_children_cpu() - before)
            speed = n_train / statistics.median(seconds[1:] or seconds)
            speeds[mode].append(speed)
            hashes[mode].append(
                hashlib.sha256((run_dir / "models/model.keras").read_bytes()).hexdigest()
            )
            ious[mode] = card.training.best_val["iou"]
            print(
                f"round {round_} {mode:>8}: {speed:7.1f} images/s, {cpu[mode][-1]:.0f} CPU s",
                flush=True,
            )
    figures = summary(speeds, cpu, hashes, ious)
    print(f"\n{figures}")
    write_figures("reproducibility", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
