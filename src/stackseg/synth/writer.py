"""Writing the demo dataset: streamed multi-page TIFFs, a process pool over stacks, and an
all-or-nothing move into place (stackseg.atomic).

Byte-for-byte reproducibility: tifffile writes no date and no volatile tag; images are
uncompressed and masks use LZW, a canonical codec (greedy longest match, no tuning knobs and no
CPU-specific code paths, unlike zlib-ng's deflate), so the same pixels give the same file.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import tifffile

from stackseg import atomic
from stackseg.progress import progress
from stackseg.synth.stack import SynthSettings, stack_frames

log = logging.getLogger(__name__)

IMAGES = "images"
MASKS = "masks"
# Below this many pixels a pool's start-up costs more than it saves.
POOL_MIN_PIXELS = 20_000_000
BIGTIFF_BYTES = 3 << 30


def _photometric(channels: int) -> dict:
    if channels == 3:
        return {"photometric": "rgb", "planarconfig": "contig"}
    if channels == 1:
        return {"photometric": "minisblack"}
    return {"photometric": "minisblack", "planarconfig": "contig"}


def write_stack(
    settings: SynthSettings, index: int, directory: Path, on_frame: Callable[[], None] | None = None
) -> str:
    """Write images/<name>.tif and masks/<name>.tif of stack `index`, one page at a time."""
    name = settings.stack_name(index)
    h, w, c = settings.height, settings.width, settings.channels
    image_shape = (settings.frames, h, w) + ((3,) if c == 3 else ())
    mask_channels = settings.n_classes if settings.mask_format == "channels" else 1
    mask_shape = (settings.frames, h, w) + ((mask_channels,) if mask_channels > 1 else ())
    image_bytes = np.dtype(settings.dtype).itemsize * int(np.prod(image_shape))
    bigtiff = image_bytes > BIGTIFF_BYTES or int(np.prod(mask_shape)) > BIGTIFF_BYTES

    with (
        tifffile.TiffWriter(directory / IMAGES / f"{name}.tif", bigtiff=bigtiff) as images,
        tifffile.TiffWriter(directory / MASKS / f"{name}.tif", bigtiff=bigtiff) as masks,
    ):

        def mask_pages():
            # The mask writer pulls pages from this generator; each step also appends the
            # matching image page, so one pass renders both and nothing accumulates in memory.
            for image, mask in stack_frames(settings, index):
                images.write(image, contiguous=True, **_photometric(c))
                if on_frame:
                    on_frame()
                yield mask.reshape(mask_shape[1:])

        masks.write(
            mask_pages(),
            shape=mask_shape,
            # instance labels: one uint16 id per nucleus (0 = background)
            dtype=np.uint16 if settings.mask_format == "labels" else np.uint8,
            compression="lzw",
            **_photometric(mask_channels),
        )
    return name


def _pool_task(settings: SynthSettings, index: int, directory: str) -> str:
    return write_stack(settings, index, Path(directory))


def _write_all(settings: SynthSettings, directory: Path, workers: int) -> None:
    (directory / IMAGES).mkdir()
    (directory / MASKS).mkdir()
    with progress(settings.stacks * settings.frames, "synth", "frame") as bar:
        if workers <= 1:
            for index in range(settings.stacks):
                write_stack(settings, index, directory, on_frame=lambda: bar.update(1))
            return
        # spawn: the same start method on every OS, and safe next to a bar's monitor thread
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(_pool_task, settings, i, str(directory)) for i in range(settings.stacks)
            ]
            try:
                for future in as_completed(futures):
                    future.result()
                    bar.update(settings.frames)
            except BaseException:
                # fail fast: do not wait for the stacks not yet started
                pool.shutdown(wait=True, cancel_futures=True)
                raise


def choose_workers(settings: SynthSettings, requested: int) -> int:
    """Processes to use: `requested` (0 = all cores), one per stack at most, none for small jobs."""
    pixels = settings.stacks * settings.frames * settings.height * settings.width
    if pixels < POOL_MIN_PIXELS:
        return 1
    available = requested or os.cpu_count() or 1
    return max(1, min(available, settings.stacks))


def holds_stacks(out: Path) -> int:
    """How many image stacks `out` already holds."""
    images = out / IMAGES
    if not images.is_dir():
        return 0
    return sum(1 for p in images.iterdir() if p.suffix.lower() in (".tif", ".tiff"))


def generate(settings: SynthSettings, out: Path, workers: int = 0) -> None:
    """Write the dataset to `out` (replacing it): complete, or not at all."""
    out = Path(out)
    atomic.remove_stale(out)  # left by a synth killed with SIGKILL
    log.info("writing %s to %s", settings.describe(), out)
    started = time.perf_counter()
    # built beside `out` (same file system), renamed into place only when every stack is written
    with atomic.replacing(out, directory=True) as staging:
        _write_all(settings, staging, choose_workers(settings, workers))
    log.info("wrote %d stacks to %s in %.1f s", settings.stacks, out, time.perf_counter() - started)
