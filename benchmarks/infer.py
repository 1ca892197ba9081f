"""`stackseg infer` throughput and per-image latency of each inference backend.

    .venv/bin/python benchmarks/infer.py [--model models/model.keras] [--frames 490]
        [--size 256] [--baseline-frames 60] [--repeat 15] [--work DIR]

In one run, on this machine:

1. Copies the model and its card to a scratch folder and exports the ONNX file beside it
   (Keras 3 `model.export(format="onnx")`, as the export stage does).
2. Writes a `--frames`-frame `--size`^2 uint8 stack (smooth random structures).
3. Throughput: the wall time of `stackseg infer STACK --out DIR` (the whole command:
   start-up, model load, read, predict, write) for each backend, against a per-frame
   `model.predict` loop over the same frames (read, preprocess, predict, threshold; timed
   over `--baseline-frames` after one warm-up call). Target: infer >= 3x the loop.
4. Latency per image (batch of one, median of `--repeat` calls after two warm-ups) at 96^2
   and `--size`^2: `model.predict`, a `tf.function` call (runtime.KerasBackend), an ONNX
   Runtime session with default options, and runtime.OnnxBackend (tuned: every graph
   optimisation, intra-op threads = usable cores, no spinning); plus the tuned session
   with one intra-op thread and with only the basic graph optimisations, to show what each
   setting is worth.

Writes the figures to docs/benchmarks/infer.md (benchmarks/_figures.py).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _figures import write_figures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET = 3.0


def export(source: Path, folder: Path) -> Path:
    from stackseg.contracts import read_card
    from stackseg.models import load_model

    keras_path = folder / "model.keras"
    shutil.copy(source, keras_path)
    shutil.copy(source.with_suffix(".json"), folder / "model.json")
    card = read_card(folder / "model.json")
    model = load_model(keras_path)
    model.predict_on_batch(np.zeros((1, 64, 64, card.input.channels), np.float32))
    model.export(str(folder / "model.onnx"), format="onnx", verbose=False)
    return keras_path


def write_stack(path: Path, frames: int, size: int, channels: int) -> None:
    """Smooth random blobs (a low-resolution noise field upsampled), written page by page."""
    import cv2
    import tifffile

    rng = np.random.default_rng(0)
    with tifffile.TiffWriter(path) as writer:
        for _ in range(frames):
            coarse = rng.random((size // 16, size // 16, channels)).astype(np.float32)
            frame = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
            frame = np.clip(frame * 255, 0, 255).astype(np.uint8).reshape(size, size, channels)
            writer.write(
                frame if channels == 3 else frame[..., 0],
                contiguous=True,
                photometric="rgb" if channels == 3 else "minisblack",
            )


def time_command(stack: Path, keras_path: Path, out: Path, backend: str) -> float:
    params = ROOT / "params.yaml"
    command = [str(BIN / "stackseg"), "infer", "--params", str(params), str(stack)]
    command += ["--out", str(out), "--model", str(keras_path), "--backend", backend]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def predict_loop(stack: Path, keras_path: Path, frames: int) -> float:
    """Frames/s of the naive loop: one `model.predict` per frame."""
    import tifffile

    from stackseg.contracts import read_card
    from stackseg.models import load_model, to_model_input
    from stackseg.predict import pad_to_multiple

    model = load_model(keras_path)
    card = read_card(keras_path.with_suffix(".json"))
    with tifffile.TiffFile(stack) as tif:
        pages = tif.pages

        def one(index: int) -> None:
            frame = pages[index].asarray()
            frame = frame[..., None] if frame.ndim == 2 else frame
            batch = pad_to_multiple(to_model_input(frame[None]), card.input.size_multiple)
            probs = model.predict(batch, verbose=0)
            _ = probs >= card.output.threshold_array()

        one(0)
        start = time.perf_counter()
        for index in range(frames):
            one(index % len(pages))
        return frames / (time.perf_counter() - start)


def latencies(keras_path: Path, sizes: list[int], repeat: int) -> dict[str, dict[int, float]]:
    """Median ms per single-image call, per backend and size."""
    import onnxruntime as ort

    from stackseg import runtime
    from stackseg.contracts import read_card
    from stackseg.models import load_model

    card = read_card(keras_path.with_suffix(".json"))
    onnx_path = keras_path.with_suffix(".onnx")
    model = load_model(keras_path)
    default = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = default.get_inputs()[0].name
    basic = runtime.OnnxBackend(onnx_path)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.intra_op_num_threads = runtime.usable_cores()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    basic.session = ort.InferenceSession(
        str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    calls = {
        "keras model.predict": lambda x: model.predict(x, verbose=0),
        "keras tf.function (runtime.KerasBackend)": runtime.KerasBackend(model).predict_on_batch,
        "onnxruntime, default session": lambda x: default.run(None, {name: x}),
        "onnxruntime, tuned (runtime.OnnxBackend)": runtime.OnnxBackend(onnx_path).predict_on_batch,
        "onnxruntime, tuned but 1 intra-op thread": runtime.OnnxBackend(
            onnx_path, threads=1
        ).predict_on_batch,
        "onnxruntime, tuned but basic graph optimisation": basic.predict_on_batch,
    }
    rng = np.random.default_rng(1)
    results: dict[str, dict[int, float]] = {label: {} for label in calls}
    for size in sizes:
        batch = rng.random((1, size, size, card.input.channels), dtype=np.float32)
        for label, call in calls.items():
            call(batch)
            call(batch)
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                call(batch)
                times.append(time.perf_counter() - start)
            results[label][size] = 1000 * statistics.median(times)
            print(f"{label:50s} {size:4d}^2 {results[label][size]:8.1f} ms", flush=True)
    return results


def markdown(args, throughput, steady, startup, loop: float, lat, sizes) -> str:
    lines = [
        f"`stackseg infer` on a {args.frames}-frame {args.size}² uint8 stack (whole command: "
        "start-up, model load, read, predict, write), against a per-frame `model.predict` loop "
        f"over the same frames ({args.baseline_frames} frames timed):",
        "",
        "| | frames/s | × the loop | target | a 1-frame stack (s) | frames/s after the first |",
        "|---|---:|---:|---:|---:|---:|",
        f"| per-frame `model.predict` loop | {loop:.1f} | 1.00 | | | |",
    ]
    for backend, rate in throughput.items():
        lines.append(
            f"| `stackseg infer --backend {backend}` | {rate:.1f} | {rate / loop:.2f} | "
            f"≥ {TARGET:g} | {startup[backend]:.1f} | {steady[backend]:.1f} |"
        )
    lines += [
        "",
        f"Latency per image (batch of one, median of {args.repeat} calls after two warm-ups):",
        "",
        "| backend | " + " | ".join(f"{s}² (ms)" for s in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for label, by_size in lat.items():
        lines.append(f"| {label} | " + " | ".join(f"{by_size[s]:.1f}" for s in sizes) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/model.keras")
    parser.add_argument("--frames", type=int, default=490)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--baseline-frames", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stackseg-infer-bench-", dir=args.work))
    try:
        from stackseg.contracts import read_card

        keras_path = export(args.model.resolve(), work)
        channels = read_card(work / "model.json").input.channels
        stack, single = work / "stack.tif", work / "single.tif"
        write_stack(stack, args.frames, args.size, channels)
        write_stack(single, 1, args.size, channels)
        throughput, steady, startup = {}, {}, {}
        for backend in ("onnx", "keras"):
            startup[backend] = time_command(single, keras_path, work / "out-1", backend)
            seconds = time_command(stack, keras_path, work / f"out-{backend}", backend)
            throughput[backend] = args.frames / seconds
            # the frames after the first, without start-up and model load
            extra = seconds - startup[backend]
            steady[backend] = (args.frames - 1) / extra if extra > 0 else float("nan")
            print(
                f"stackseg infer --backend {backend}: {seconds:.1f} s, "
                f"{throughput[backend]:.1f} frames/s (a 1-frame stack: {startup[backend]:.1f} s)",
                flush=True,
            )
        loop = predict_loop(stack, keras_path, args.baseline_frames)
        print(f"per-frame model.predict loop: {loop:.1f} frames/s", flush=True)
        for backend, rate in throughput.items():
            print(f"infer --backend {backend} / loop: {rate / loop:.2f} (target >= {TARGET:g})")
        sizes = sorted({96, args.size})
        lat = latencies(keras_path, sizes, args.repeat)
        write_figures("infer", markdown(args, throughput, steady, startup, loop, lat, sizes))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
