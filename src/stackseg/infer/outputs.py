"""What `stackseg infer` writes for one input, all or nothing.

In DIR, named after the input (`sources.output_name`):

- `<name>.mask.tif`: the masks, one page per input frame, zlib-compressed. `channels`
  (default): per frame one channel per class, 0 or 255 (probability >= the card's
  threshold of the class), a (frames, H, W, K) stack (axes QYXS; QYX for one class). `index`: per frame
  the class index, uint8, 0 = background (no class reaches the threshold); where several
  classes reach it, the one of highest probability wins (ties: the first class).
- `<name>.masks/<name>_f0000.png` (`--png`): the same masks per frame, as prepare writes
  masks (channel k = class k: L for one class, RGB for 2-3, RGBA for 4) or the index image.
- `<name>.overlays/<name>_f0000.png` (`--overlays`): the frame with the class colours of
  evaluate's overlays blended in at half strength (mean colour where classes overlap).
- `<name>.prob.tif` (`--probabilities`): float16 probabilities (frames, H, W, K).
- `<name>.labels.tif` (models of instance labels only: the card's `output.instances`):
  uint16 instance labels, one page per frame (frames, H, W), 0 = background and 1..N the
  frame's objects in raster order; made from the thresholded masks (and the probabilities,
  for boundary seeds) by `stackseg.objects.instances` with params `objects:`. Ids restart
  at 1 on every frame: objects are not tracked across frames.
- `<name>.infer.json`: the sidecar (`stage.sidecar`), written last.

Every file and folder is first written to a temporary path beside its target
(`stackseg.atomic`) and all are moved into place only after the last frame: a failed or
interrupted input leaves nothing of its own in DIR (and an earlier result stays as it was).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from stackseg import atomic
from stackseg.contracts import mask_png_channels, pair_stem
from stackseg.errors import InputDataError

# (present (H, W, K) boolean, probabilities (H, W, K)) -> instance labels (H, W)
Instances = Callable[[np.ndarray, np.ndarray], np.ndarray]

MASK_SUFFIX = ".mask.tif"
PROB_SUFFIX = ".prob.tif"
LABELS_SUFFIX = ".labels.tif"
MAX_LABEL = np.iinfo(np.uint16).max
SIDECAR_SUFFIX = ".infer.json"
PNG_FOLDER = ".masks"
OVERLAY_FOLDER = ".overlays"
OVERLAY_ALPHA = 0.5


def channel_masks(probs: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """(H, W, K) uint8, 255 where a class's probability reaches the threshold."""
    return np.where(probs >= threshold, np.uint8(255), np.uint8(0))


def index_mask(probs: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """(H, W) uint8 class indices: 0 background, k + 1 for class k (highest probability
    among the classes at or above the threshold)."""
    above = probs >= threshold
    best = np.argmax(np.where(above, probs, -1.0), axis=-1).astype(np.uint8) + 1
    best[~above.any(axis=-1)] = 0
    return best


def overlay(image: np.ndarray, present: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3): the frame with the present classes' colours blended in."""
    from stackseg.evaluate.overlays import class_panel

    rgb = image if image.shape[-1] == 3 else np.repeat(image[..., :1], 3, axis=-1)
    colours = class_panel(present)
    blend = np.where(
        present.any(axis=-1, keepdims=True),
        (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colours,
        rgb,
    )
    return np.clip(np.rint(blend), 0, 255).astype(np.uint8)


def _png(array: np.ndarray) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.png_encode(np.ascontiguousarray(array), level=1))


class InputOutputs:
    """The temporary outputs of one input; `commit` moves them into place together."""

    def __init__(
        self,
        out_dir: Path,
        name: str,
        classes: int,
        options: Any,
        instances: Instances | None = None,
    ):
        self.name, self.classes, self.options = name, classes, options
        self.instances = instances
        self.targets: dict[str, Path] = {"mask": out_dir / f"{name}{MASK_SUFFIX}"}
        if instances is not None:
            self.targets["labels"] = out_dir / f"{name}{LABELS_SUFFIX}"
        if options.probabilities:
            self.targets["prob"] = out_dir / f"{name}{PROB_SUFFIX}"
        if options.png:
            self.targets["png"] = out_dir / f"{name}{PNG_FOLDER}"
        if options.overlays:
            self.targets["overlays"] = out_dir / f"{name}{OVERLAY_FOLDER}"
        self.targets["sidecar"] = out_dir / f"{name}{SIDECAR_SUFFIX}"
        self.temps: dict[str, Path] = {}
        for key, target in self.targets.items():
            self.temps[key] = atomic.temp_path(target, directory=key in ("png", "overlays"))

    def relative_names(self) -> dict[str, str]:
        return {key: target.name for key, target in self.targets.items()}

    def write(
        self,
        results: Iterable[tuple[int, np.ndarray, np.ndarray]],
        shape: tuple[int, int, int],
        threshold: float | np.ndarray,
        on_frame: Callable[[], object] = lambda: None,
    ) -> None:
        """Write the masks (and the optional outputs) of `results`, one frame at a time:
        (index, uint8 image (H, W, C), probabilities (H, W, K)) in frame order."""
        import tifffile

        frames, height, width = shape
        index_format = self.options.format == "index"
        layers = () if index_format or self.classes == 1 else (self.classes,)
        probs_writer = labels_writer = None
        if "prob" in self.temps:
            probs_writer = tifffile.TiffWriter(self.temps["prob"])
        if "labels" in self.temps:
            labels_writer = tifffile.TiffWriter(self.temps["labels"])

        def masks() -> Iterator[np.ndarray]:
            for index, image, probs in results:
                present = probs >= threshold
                if index_format:
                    mask = index_mask(probs, threshold)
                else:
                    mask = channel_masks(probs, threshold)
                    mask = mask[..., 0] if self.classes == 1 else mask
                self._per_frame(index, frames, image, mask, present)
                if probs_writer is not None:
                    probs_writer.write(
                        probs.astype(np.float16), contiguous=True, photometric="minisblack"
                    )
                if labels_writer is not None:
                    self._labels(labels_writer, index, present, probs)
                on_frame()
                yield mask

        try:
            with tifffile.TiffWriter(self.temps["mask"]) as writer:
                writer.write(
                    masks(),
                    shape=(frames, height, width, *layers),
                    dtype=np.uint8,
                    photometric="minisblack",
                    compression="zlib",
                    compressionargs={"level": 1},
                    # samples of a pixel together (tifffile would guess planar for some shapes)
                    planarconfig="contig" if layers else None,
                    metadata={"axes": "QYXS" if layers else "QYX"},
                )
        finally:
            for other in (probs_writer, labels_writer):
                if other is not None:
                    other.close()

    def _labels(self, writer: Any, index: int, present: np.ndarray, probs: np.ndarray) -> None:
        """One page of instance labels: compressed, no shape metadata, so the pages (all of
        one size and type) read back as one (frames, H, W) series."""
        assert self.instances is not None
        labels = self.instances(present, probs)
        if labels.size and int(labels.max()) > MAX_LABEL:
            raise InputDataError(
                [
                    f"{self.name}: frame {index}: {int(labels.max())} objects, more than a "
                    f"uint16 label image holds ({MAX_LABEL}); raise objects.min_size"
                ]
            )
        writer.write(
            labels.astype(np.uint16),
            photometric="minisblack",
            compression="zlib",
            compressionargs={"level": 1},
            metadata=None,
        )

    def _per_frame(
        self, index: int, frames: int, image: np.ndarray, mask: np.ndarray, present: np.ndarray
    ) -> None:
        stem = pair_stem(self.name, index, frames)
        if "png" in self.temps:
            png = mask
            if png.ndim == 3 and png.shape[-1] != mask_png_channels(self.classes):
                padding = mask_png_channels(self.classes) - png.shape[-1]
                png = np.concatenate([png, np.zeros((*png.shape[:2], padding), np.uint8)], -1)
            (self.temps["png"] / f"{stem}.png").write_bytes(_png(png))
        if "overlays" in self.temps:
            (self.temps["overlays"] / f"{stem}.png").write_bytes(_png(overlay(image, present)))

    def commit(self, sidecar: dict[str, Any]) -> None:
        """Move every output into place, the sidecar last (its presence means complete)."""
        self.temps["sidecar"].write_text(json.dumps(sidecar, indent=2) + "\n")
        for key, target in self.targets.items():
            atomic.move_into_place(self.temps.pop(key), target)

    def discard(self) -> None:
        """Remove whatever temporary output is left (a failed or interrupted input)."""
        for temp in self.temps.values():
            if temp.is_dir():
                shutil.rmtree(temp, ignore_errors=True)
            else:
                temp.unlink(missing_ok=True)
        self.temps.clear()
