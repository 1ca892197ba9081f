"""The full-scale profile measured: data on disk, training throughput, peak memory, speed-ups.

    .venv/bin/python benchmarks/going_big.py [--work DIR] [--stacks 3] [--frames 16]
                                             [--steps 3] [--warmup 1]

1. Writes `--stacks` x `--frames` frames of the full profile (profiles/full.yaml: 256 px)
   and prepares them; files and bytes per pair give the projection to the full 41 x 490.
2. Trains the full profile's model (the original U-Net, batch 16) in one process per
   variant: `--warmup` steps (tracing, XLA compilation), then `--steps` timed steps.
   Variants: the train stage as it is (TensorFlow, float32), XLA (`jit_compile=True`),
   mixed_bfloat16, one intra-op thread, and Keras on JAX (always XLA; the data-parallel
   engine, one process). images/s and peak RSS per variant, ratios to the first.
3. Projects one epoch and 50 epochs of the full profile from the baseline's images/s.

A few steps are a sample: a full epoch (~14,000 train pairs) takes hours on 2 cores.
Writes docs/benchmarks/going_big.md (benchmarks/_figures.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _figures import write_figures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FULL_PAIRS = 41 * 490  # profiles/full.yaml's synth section
EPOCHS = 50
# name -> (environment, compile changes); the first is the baseline
VARIANTS: dict[str, tuple[dict[str, str], dict]] = {
    "TensorFlow float32 (as trained today)": ({}, {}),
    "TensorFlow + XLA (jit_compile)": ({}, {"jit_compile": True}),
    "TensorFlow mixed_bfloat16": ({}, {"precision": "mixed_bfloat16"}),
    "TensorFlow, 1 intra-op thread": ({"TF_NUM_INTRAOP_THREADS": "1"}, {}),
    "Keras on JAX (XLA)": ({"KERAS_BACKEND": "jax"}, {}),
}


def full_params(stacks: int, frames: int) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for section, values in yaml.safe_load((ROOT / "profiles/full.yaml").read_text()).items():
        params[section].update(values)
    params["synth"].update(stacks=stacks, frames=frames)
    params["prepare"]["min_split_stacks"] = 1  # a sample of the stacks: no split warnings
    params["prepare"]["min_split_pairs"] = 1
    return params


def prepare(project: Path, stacks: int, frames: int) -> dict:
    project.mkdir(parents=True, exist_ok=True)
    (project / "params.yaml").write_text(yaml.safe_dump(full_params(stacks, frames)))
    seconds = {}
    for stage in ("synth", "prepare"):
        start = time.perf_counter()
        subprocess.run([str(BIN / "stackseg"), stage], cwd=project, check=True)
        seconds[stage] = time.perf_counter() - start
    files = [p for p in (project / "data/prepared").rglob("*") if p.is_file()]
    raw = sum(p.stat().st_size for p in (project / "data/raw").rglob("*") if p.is_file())
    pairs = stacks * frames
    return {
        "pairs": pairs,
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "raw_bytes": raw,
        "seconds": seconds,
    }


def measure(project: Path, changes: dict, steps: int, warmup: int) -> dict:
    """In a fresh process (the environment set): images/s over `steps` steps, peak RSS."""
    import keras

    from stackseg.config import load_config
    from stackseg.models import build_model
    from stackseg.train import distributed
    from stackseg.train.dataset import build_train_input, default_cache_budget
    from stackseg.train.determinism import configure_determinism, set_precision
    from stackseg.train.prepared import read_prepared
    from stackseg.train.stage import compile_model

    if distributed.requested():
        distributed.setup()
    os.chdir(project)
    cfg = load_config("params.yaml")
    t = cfg.train.model_copy(update={"precision": changes.get("precision", cfg.train.precision)})
    data = read_prepared(cfg.paths.prepared, cfg.classes)
    configure_determinism(cfg.seed)
    set_precision(t.precision)
    model = build_model(t, len(cfg.classes), data.image_channels)
    compile_model(model, cfg)
    if changes.get("jit_compile"):
        model.jit_compile = True
    inputs = build_train_input(
        data.splits["train"],
        data.splits["val"],
        data.image_channels,
        len(cfg.classes),
        t,
        cfg.seed,
        0,
        default_cache_budget(),
    )
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter())

    start = time.perf_counter()
    model.fit(
        inputs.train.repeat(),
        steps_per_epoch=warmup + steps,
        epochs=1,
        callbacks=[Clock()],
        verbose=0,
    )
    timed = times[-1] - times[warmup - 1] if warmup else times[-1] - start
    return {
        "images_per_s": steps * t.batch_size / timed,
        "first_steps_s": times[warmup - 1] - start if warmup else 0.0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params": model.count_params(),
    }


def bf16_hardware() -> bool:
    """AMX or AVX512-BF16: the CPUs where bfloat16 matmuls run natively (elsewhere oneDNN
    converts, and a bf16 variant only measures that emulation)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # unknown: measure it
    return "amx_bf16" in flags or "avx512_bf16" in flags


def run_variant(project: Path, name: str, steps: int, warmup: int) -> dict:
    env_changes, changes = VARIANTS[name]
    if changes.get("precision") == "mixed_bfloat16" and not bf16_hardware():
        return {"skipped": "no AMX or AVX512-BF16 on this CPU (facts: 0.97x on such an AMD)"}
    env = {**os.environ, **env_changes}
    command = [sys.executable, __file__, "--measure", str(project), "--variant", name]
    command += ["--steps", str(steps), "--warmup", str(warmup)]
    print(f"measuring: {name}", flush=True)
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode != 0:  # a variant that fails is a result too (its last line shown)
        lines = out.stderr.strip().splitlines() or ["no output"]
        print(out.stderr[-3000:], file=sys.stderr)
        return {"failed": lines[-1][:200]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(args, disk: dict, results: dict[str, dict]) -> str:
    scale = FULL_PAIRS / disk["pairs"]
    base_name = next(iter(VARIANTS))
    base = results[base_name]["images_per_s"]
    train_pairs = round(FULL_PAIRS * 0.7)  # prepare.split.train
    epoch_h = train_pairs / base / 3600
    lines = [
        f"Sample: {disk['pairs']} pairs of the full profile ({args.stacks} stacks x "
        f"{args.frames} frames at 256 px), scaled to its {FULL_PAIRS:,} pairs. Training: "
        f"the full profile's U-Net ({results[base_name]['params']:,} parameters, batch 16), "
        f"{args.warmup} warm-up step(s), then {args.steps} timed steps per variant, each in "
        "a fresh process. Machine shared with other jobs (1-minute load average "
        f"{os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores): ratios are of "
        "this one run. Synth and prepare times: docs/benchmarks/prepare.md.",
        "",
        "| data (projected to the full profile) | value |",
        "|---|---:|",
        f"| prepared files | {round(disk['files'] * scale):,} |",
        f"| prepared size | {disk['bytes'] * scale / 1e9:.2f} GB |",
        f"| raw TIFF size | {disk['raw_bytes'] * scale / 1e9:.2f} GB |",
        "",
        "| training variant | images/s | vs baseline | peak RSS MB |",
        "|---|---:|---:|---:|",
    ]
    for name, result in results.items():
        if "failed" in result or "skipped" in result:
            why = f"failed: {result['failed']}" if "failed" in result else result["skipped"]
            lines.append(f"| {name} | {why} | | |")
            continue
        lines.append(
            f"| {name} | {result['images_per_s']:.2f} | "
            f"{result['images_per_s'] / base:.2f}x | {result['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        f"Projected at the baseline's {base:.2f} images/s: one epoch of {train_pairs:,} "
        f"train pairs {epoch_h:.1f} h, {EPOCHS} epochs {epoch_h * EPOCHS / 24:.1f} days.",
    ]
    return "\n".join(lines)


def pick_variants(text: str) -> list[str]:
    """`--variants`: "N" = the first N; "1,4" = those (1-based), the baseline always first."""
    names = list(VARIANTS)
    try:
        if "," not in text:
            return names[: max(1, int(text))]
        numbers = sorted({1, *(int(part) for part in text.split(","))})
        if not 1 <= numbers[0] <= numbers[-1] <= len(names):
            raise ValueError(text)  # names[-1] would take 0 for the last variant
        return [names[n - 1] for n in numbers]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a count or a list of variant numbers 1-{len(names)}"
        ) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--stacks", type=int, default=3)  # 3: train, val and test each get one
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--variants",
        type=pick_variants,
        default=list(VARIANTS),
        help="the first N variants, or a list of their numbers (e.g. 1,4: the baseline, the "
        "first, is always measured)",
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's mode
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        result = measure(args.measure, VARIANTS[args.variant][1], args.steps, args.warmup)
        print(json.dumps(result), flush=True)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="going-big-"))
    try:
        disk = prepare(work / "full", args.stacks, args.frames)
        results = {
            name: run_variant(work / "full", name, args.steps, args.warmup)
            for name in args.variants
        }
        text = markdown(args, disk, results)
        print(text)
        write_figures("going_big", text)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
