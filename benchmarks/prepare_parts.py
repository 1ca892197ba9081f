"""Where prepare's time goes per pair: each step of the worker loop timed on its own.

    .venv/bin/python benchmarks/prepare_parts.py --raw DIR [--stacks N] [--out DIR] [--batch N]

Runs the same steps as a prepare worker, in one process, over the first N stacks of DIR
(images/ and masks/): the metadata pass, the content hash, reading the image and mask
frames, checking and converting the mask, the two encoders and creating the two files.
Prints microseconds per pair for each step and the encoders' share of the total, which is
the most a prepare run could reach against the encode-only bound (c) of prepare.py before
process start-up, the pool and the manifest. Files go to a scratch directory under --out
(default: a new temp dir), deleted at the end; --batch 1 creates them one by one instead of
in prepare's bursts.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _figures import write_figures  # benchmarks/ is on sys.path: the script runs from there

from stackseg.prepare.frames import StackReader
from stackseg.prepare.masks import MaskConverter
from stackseg.prepare.pairs import WRITE_BATCH, _PairFiles, encode_jpeg, encode_png
from stackseg.prepare.raw import file_hash
from stackseg.prepare.workers import inspect_file

STEPS = ("metadata", "hash", "read image", "read mask", "mask check", "jpeg", "png", "files")
ENCODERS = ("jpeg", "png")


def measure(
    raw: Path, stacks: int, out: Path, batch: int, n_classes: int = 3, quality: int = 95
) -> dict:
    spent = dict.fromkeys(STEPS, 0)
    pairs = 0
    names = sorted(p.name for p in (raw / "images").iterdir())[:stacks]
    for name in names:
        clock = time.perf_counter_ns()
        image = inspect_file(str(raw / "images" / name), None, content_hash=False).layout
        mask = inspect_file(str(raw / "masks" / name), n_classes, content_hash=False).layout
        spent["metadata"] += time.perf_counter_ns() - clock
        clock = time.perf_counter_ns()
        file_hash(image.path), file_hash(mask.path)
        spent["hash"] += time.perf_counter_ns() - clock
        for folder in ("images", "masks"):
            (out / name / folder).mkdir(parents=True)
        files = _PairFiles(str(out / name), batch=batch)
        convert = MaskConverter("channels", n_classes, mask.dtype, reuse_output=True)
        with (
            StackReader(image, reuse_buffer=True) as images,
            StackReader(mask, reuse_buffer=True) as masks,
        ):
            for index in range(image.frames):
                t0 = time.perf_counter_ns()
                frame = images.frame(index)
                t1 = time.perf_counter_ns()
                raw_mask = masks.frame(index)
                t2 = time.perf_counter_ns()
                png_ready, _ = convert(raw_mask)
                t3 = time.perf_counter_ns()
                jpeg = encode_jpeg(frame, quality)
                t4 = time.perf_counter_ns()
                png = encode_png(png_ready)
                t5 = time.perf_counter_ns()
                files.write(f"images/{index}.jpg", jpeg)
                files.write(f"masks/{index}.png", png)
                t6 = time.perf_counter_ns()
                for step, (a, b) in zip(
                    STEPS[2:],
                    ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6)),
                    strict=True,
                ):
                    spent[step] += b - a
        clock = time.perf_counter_ns()
        files.flush()
        spent["files"] += time.perf_counter_ns() - clock
        files.close()
        pairs += image.frames
    return {step: ns / 1000 / pairs for step, ns in spent.items()} | {"pairs": pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", type=Path, required=True, help="dir with images/ and masks/")
    parser.add_argument("--stacks", type=int, default=4, help="how many stacks (default 4)")
    parser.add_argument("--out", type=Path, help="scratch parent dir (default: a temp dir)")
    parser.add_argument(
        "--batch",
        type=int,
        default=WRITE_BATCH,
        help=f"pairs whose files are created together (default {WRITE_BATCH}; 1: one by one)",
    )
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="prepare-parts-", dir=args.out))
    try:
        per_pair = measure(args.raw, args.stacks, out, args.batch)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    pairs = per_pair.pop("pairs")
    total = sum(per_pair.values())
    encoders = sum(per_pair[step] for step in ENCODERS)
    print(f"{pairs} pairs, one process, files created {args.batch} pairs at a time")
    print("microseconds per pair:")
    rows = [f"{pairs} pairs, one process, files created {args.batch} pairs at a time.", ""]
    rows += ["| step of a pair | µs per pair | share |", "|---|---|---|"]
    for step, micros in per_pair.items():
        print(f"  {step:12s} {micros:7.1f}  {100 * micros / total:5.1f}%")
        rows.append(f"| {step} | {micros:.1f} | {100 * micros / total:.1f}% |")
    print(f"  {'total':12s} {total:7.1f}")
    print(f"encoders' share {encoders / total:.2f} (the most b/c could be, before start-up)")
    rows += [f"| total | {total:.1f} | 100% |", ""]
    rows.append(f"Encoders' share {encoders / total:.2f}: the most b/c could be, before start-up.")
    write_figures("prepare_parts", "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
