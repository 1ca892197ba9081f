"""Detection power of `stackseg drift`: the smallest brightness and contrast shifts it flags,
and its false-alarm rate on unshifted frames (features only: no model is run).

    .venv/bin/python benchmarks/drift.py [--reference-stacks 29] [--pool-stacks 60]
        [--trials 40] [--sizes 20 200] [--bootstrap 500]

In one run, on this machine:

1. A reference like the pipeline's: the demo data's first `--reference-stacks` stacks
   (params synth: 8 frames of 96^2; 29 stacks = 232 frames, the training split's size),
   thresholds calibrated with params drift (alpha, seed; `--bootstrap` resamples).
2. A pool of `--pool-stacks` other stacks (synth seed + 1: new scenes and looks).
3. For each set size n (`--sizes`, frames) and each shift level, `--trials` sets of n
   frames (whole stacks of the pool drawn at random, the last cut), shifted with synth's
   own shift (stackseg.synth.shift, applied to the frames in camera units), compared with
   the reference; a level's detection rate is the share of sets flagged. The smallest
   level detected in at least POWER of the sets is reported.
4. The false-alarm rate: the share of unshifted sets flagged (level 0).

Writes the figures to docs/benchmarks/drift.md (benchmarks/_figures.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _figures import write_figures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POWER = 0.8
BRIGHTNESS = (0, 2, 4, 6, 8, 10, 15, 20, 30, 40, 60)  # 8-bit grey levels added
CONTRAST = (100, 110, 120, 130, 150, 175, 200, 90, 80, 70, 60, 50)  # percent


def stacks(seed: int, first: int, count: int) -> list[list[np.ndarray]]:
    """`count` demo stacks (uint8 frames) from index `first`, with params' synth section."""
    from stackseg.config import load_config
    from stackseg.synth import settings_from_config, stack_frames

    settings = settings_from_config(load_config(ROOT / "params.yaml"), seed=seed)
    return [
        [image for image, _ in stack_frames(settings, index)]
        for index in range(first, first + count)
    ]


def shifted(frames: list[np.ndarray], brightness: int, contrast: int) -> list[np.ndarray]:
    """The frames as synth --shift-brightness/--shift-contrast would have written them
    (synth's own shift, on the frames in camera units; these two shifts draw no noise)."""
    from stackseg.synth.render import to_dtype
    from stackseg.synth.shift import LEVEL, Shift, apply_shift

    shift = Shift(brightness=brightness, contrast=contrast)
    if not shift.active:
        return frames
    rng = np.random.default_rng(0)
    return [to_dtype(apply_shift(f.astype(np.int32) * LEVEL, shift, rng), "uint8") for f in frames]


def detection(reference, pool, sizes, trials, levels, kind, rng) -> dict[int, dict[int, float]]:
    """rate[n][level]: the share of `trials` sets of n frames flagged at each shift level.
    Each pool frame's features are computed once per level; the sets reuse them."""
    from stackseg.drift import compare, profile_frames
    from stackseg.drift.calibrate import Groups

    groups = Groups(np.repeat(np.arange(len(pool)), len(pool[0])))
    flat = [frame for stack in pool for frame in stack]
    picks = {n: [groups.sample(n, rng) for _ in range(trials)] for n in sizes}
    rates: dict[int, dict[int, float]] = {n: {} for n in sizes}
    for level in levels:
        b, c = (level, 100) if kind == "brightness" else (0, level)
        profile = profile_frames(shifted(flat, b, c), reference.bins)
        for n in sizes:
            hits = sum(compare(reference, profile.take(pick)).drifted for pick in picks[n])
            rates[n][level] = hits / trials
            print(f"{kind} {level:>4} n={n:>4}: {rates[n][level]:.2f}", flush=True)
    return rates


def smallest(rates: dict[int, float], levels: tuple[int, ...], base: int, unit: str) -> str:
    """The smallest shift flagged in >= POWER of the sets, on each side of `base`."""
    found = [lvl for lvl in levels if lvl != base and rates[lvl] >= POWER]
    sides = ([v for v in found if v > base], [v for v in found if v < base])
    shown = [min(side, key=lambda v: abs(v - base)) for side in sides if side]
    return " / ".join(f"{v}{unit}" if unit == " %" else f"{v:+d}" for v in shown) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference-stacks", type=int, default=29)
    parser.add_argument("--pool-stacks", type=int, default=60)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--bootstrap", type=int, default=500)
    args = parser.parse_args()

    from stackseg.config import load_config
    from stackseg.drift import build_reference, profile_frames

    cfg = load_config(ROOT / "params.yaml")
    start = time.perf_counter()
    ref_stacks = stacks(cfg.synth.seed, 0, args.reference_stacks)
    pool = stacks(cfg.synth.seed + 1, 0, args.pool_stacks)
    frames = [f for stack in ref_stacks for f in stack]
    labels = [str(k) for k, stack in enumerate(ref_stacks) for _ in stack]
    drift = cfg.drift
    calibrated = time.perf_counter()
    reference = build_reference(
        profile_frames(frames, drift.bins, labels),
        drift.bins,
        drift.alpha,
        args.bootstrap,
        drift.seed,
        show=False,
    )
    calibrated = time.perf_counter() - calibrated
    rng = np.random.default_rng(drift.seed)
    bright = detection(reference, pool, args.sizes, args.trials, BRIGHTNESS, "brightness", rng)
    contrast = detection(reference, pool, args.sizes, args.trials, CONTRAST, "contrast", rng)

    lines = [
        f"Reference: {len(frames)} frames of {args.reference_stacks} demo stacks "
        f"({cfg.synth.height}x{cfg.synth.width}); thresholds from {args.bootstrap} bootstrap "
        f"resamples at alpha {drift.alpha} ({calibrated:.1f} s). Sets: whole stacks of "
        f"{args.pool_stacks} other stacks, {args.trials} sets per size and level. Detected: "
        f"flagged in at least {POWER:.0%} of the sets.",
        "",
        "| frames | false alarms (unshifted sets) | smallest brightness shift detected "
        "(grey levels) | smallest contrast change detected (more / less) |",
        "|---:|---:|---:|---:|",
    ]
    for n in args.sizes:
        # both no-shift columns (brightness 0, contrast 100 %) are unshifted sets
        alarms = (bright[n][0] + contrast[n][100]) / 2
        lines.append(
            f"| {n} | {alarms:.1%} of {2 * args.trials} | {smallest(bright[n], BRIGHTNESS, 0, '')} "
            f"| {smallest(contrast[n], CONTRAST, 100, ' %')} |"
        )
    lines += ["", "Detection rate by level:", ""]
    for kind, rates, levels in (
        ("brightness", bright, BRIGHTNESS),
        ("contrast %", contrast, CONTRAST),
    ):
        ordered = sorted(levels)
        lines.append(
            f"| {kind} | "
            + " | ".join(f"{v:+d}" if kind == "brightness" else str(v) for v in ordered)
            + " |"
        )
        lines.append("|---|" + "---:|" * len(ordered))
        for n in args.sizes:
            lines.append(f"| n = {n} | " + " | ".join(f"{rates[n][v]:.2f}" for v in ordered) + " |")
        lines.append("")
    lines.append(f"Whole run: {time.perf_counter() - start:.0f} s.")
    write_figures("drift", "\n".join(lines))


if __name__ == "__main__":
    main()
