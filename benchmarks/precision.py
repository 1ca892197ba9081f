"""float32 vs mixed_bfloat16 training on the demo dataset: throughput and final IoU.

    .venv/bin/python benchmarks/precision.py [--work DIR] [--epochs N]

Runs `stackseg train` twice on the same prepared demo data (params.yaml, only
train.precision changed; --epochs overrides train.epochs) and reports, for each:
training images/s (train pairs / median epoch time over epochs 2.., so tracing is excluded),
the best val mean IoU from models/model.json, and the test mean IoU at native resolution.
Prints the bf16 / float32 ratio of images/s and the IoU differences. bf16 pays off only on
CPUs with native bf16 matrix units (AMX, AVX512-BF16) or GPUs; elsewhere it can be slower.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from stackseg.contracts import ModelCard, read_card, read_manifest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _demo_data import BIN, demo_params, prepared_demo  # noqa: E402
from _figures import write_figures  # noqa: E402

EPOCH_LINE = re.compile(r"epoch (\d+)/\d+: .* \| ([0-9.]+) s$")


def train(project: Path, run_dir: Path, overrides: dict) -> tuple[list[float], ModelCard]:
    """`stackseg train` in run_dir (sharing project's data); (epoch seconds, model card)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "data").exists():
        (run_dir / "data").symlink_to(project / "data")
    (run_dir / "params.yaml").write_text(yaml.safe_dump(demo_params(overrides), sort_keys=False))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [str(BIN / "stackseg"), "train"], cwd=run_dir, env=env, capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    seconds = [
        float(m.group(2)) for line in proc.stderr.splitlines() if (m := EPOCH_LINE.search(line))
    ]
    return seconds, read_card(run_dir / "models/model.json")


def test_iou(run_dir: Path) -> float:
    """Pooled test IoU (mean over classes) of run_dir's model on whole frames."""
    from stackseg.models import load_model, to_model_input

    prepared = run_dir / "data/prepared"
    manifest = read_manifest(prepared)
    k = len(manifest.classes)
    tp = fp = fn = np.zeros(k)
    model = load_model(run_dir / "models/model.keras")
    card = read_card(run_dir / "models/model.json", manifest.classes)
    m = card.input.size_multiple
    for pair in manifest.split_pairs("test"):
        image = np.asarray(Image.open(prepared / pair.image))
        image = image[..., None] if image.ndim == 2 else image
        mask = np.asarray(Image.open(prepared / pair.mask))
        truth = (mask[..., None] if mask.ndim == 2 else mask)[..., :k] > 127
        h, w = image.shape[:2]
        padded = np.pad(image, ((0, -h % m), (0, -w % m), (0, 0)), mode="reflect")
        probs = model.predict(to_model_input(padded[None]), verbose=0)[0, :h, :w]
        pred = probs >= card.output.threshold_array()
        tp = tp + (pred & truth).sum((0, 1))
        fp = fp + (pred & ~truth).sum((0, 1))
        fn = fn + (~pred & truth).sum((0, 1))
    return float(np.mean(tp / np.maximum(tp + fp + fn, 1)))


def comparison(results: dict[str, tuple[float, float, float]]) -> str:
    """One line: bf16 vs float32 throughput ratio and IoU differences.

    results: precision -> (images/s, best val IoU, test IoU), float32 first."""
    (f_speed, f_val, f_test), (b_speed, b_val, b_test) = results.values()
    return (
        f"mixed_bfloat16 / float32: {b_speed / f_speed:.2f}x images/s; "
        f"val IoU {b_val - f_val:+.4f}, test IoU {b_test - f_test:+.4f}"
    )


def figures_markdown(results: dict[str, tuple[float, float, float]], verdict: str) -> str:
    """The figures as Markdown, for docs/benchmarks/precision.md."""
    lines = ["| precision | images/s | best val IoU | test IoU |", "|---|---:|---:|---:|"]
    for precision, (speed, val, test) in results.items():
        lines.append(f"| {precision} | {speed:.1f} | {val:.4f} | {test:.4f} |")
    return "\n".join(lines) + f"\n\n{verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "stackseg-bench")
    parser.add_argument("--epochs", type=int, default=None, help="default: params.yaml")
    args = parser.parse_args()
    project = prepared_demo(args.work)
    n_train = len(read_manifest(project / "data/prepared").split_pairs("train"))
    results = {}
    for precision in ("float32", "mixed_bfloat16"):
        overrides = {"train.precision": precision}
        if args.epochs:
            overrides["train.epochs"] = args.epochs
        run_dir = args.work / f"precision-{precision}"
        seconds, card = train(project, run_dir, overrides)
        speed = n_train / statistics.median(seconds[1:] or seconds)
        results[precision] = (speed, card.training.best_val["iou"], test_iou(run_dir))
        print(
            f"{precision:>15}: {speed:7.1f} images/s, best val IoU {results[precision][1]:.4f}, "
            f"test IoU {results[precision][2]:.4f}",
            flush=True,
        )
    verdict = comparison(results)
    print(f"\n{verdict}")
    write_figures("precision", figures_markdown(results, verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main())
