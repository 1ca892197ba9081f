"""Overlay images of single test frames: image, ground truth, prediction and per-class errors.

One PNG per frame, panels left to right: the image; the ground truth and the prediction
(one colour per class, the mean colour where classes overlap); then one error panel per class
with true positives green, false positives red and false negatives blue. A header names the
frame and its IoU. Instance-label data add an objects panel (`stackseg.evaluate.objects`).
Only the image panel shows the image: the others are flat colours, which PNG compresses to
almost nothing, so the files stay small enough to keep in git. Small frames are enlarged by
an integer factor (nearest neighbour) so structures stay visible; large ones are reduced
to keep the PNGs small enough for git. Text uses Pillow's built-in bitmap font so the same
pixels give the same bytes on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TP_COLOUR = (0, 190, 0)
FP_COLOUR = (255, 40, 40)
FN_COLOUR = (40, 120, 255)
# Okabe-Ito colours, distinguishable with the common colour-vision deficiencies
CLASS_COLOURS = ((230, 159, 0), (86, 180, 233), (204, 121, 167), (240, 228, 66))
BACKGROUND = (24, 24, 24)
PANEL = (0, 0, 0)  # true negatives / no class
TEXT = (235, 235, 235)
MIN_PANEL = 128  # frames smaller than this are enlarged by an integer factor
MAX_PANEL = 512  # and larger ones reduced to this long side
GAP = 4
LINE = 14  # header line height for the bitmap font


@dataclass(frozen=True)
class Layout:
    """Geometry of an overlay: where panel i starts and how big the image is."""

    panel_height: int
    panel_width: int
    n_panels: int
    header: int = 2 * LINE + GAP

    @classmethod
    def for_frame(cls, height: int, width: int, n_classes: int, extra: int = 0) -> Layout:
        longest = max(height, width)
        if longest < MIN_PANEL:
            scale = float(math.ceil(MIN_PANEL / longest))
        elif longest > MAX_PANEL:
            scale = MAX_PANEL / longest
        else:
            scale = 1.0
        return cls(
            panel_height=max(1, round(height * scale)),
            panel_width=max(1, round(width * scale)),
            n_panels=3 + n_classes + extra,
        )

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole image, as PIL reports it."""
        width = self.n_panels * self.panel_width + (self.n_panels + 1) * GAP
        return width, self.header + self.panel_height + GAP

    def origin(self, panel: int) -> tuple[int, int]:
        """(x, y) of the top-left pixel of panel `panel`."""
        return GAP + panel * (self.panel_width + GAP), self.header


def _flat(shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.array(PANEL, np.float32), (*shape[:2], 3)).copy()


def class_panel(masks: np.ndarray) -> np.ndarray:
    """Class colours on black, (H, W, 3) float; overlapping classes get their mean colour."""
    colours = np.array(
        [CLASS_COLOURS[k % len(CLASS_COLOURS)] for k in range(masks.shape[-1])], np.float32
    )
    present = masks.astype(np.float32)
    count = present.sum(axis=-1, keepdims=True)
    mean = np.divide(
        present @ colours, count, out=np.zeros((*masks.shape[:2], 3), np.float32), where=count > 0
    )
    return np.where(count > 0, mean, _flat(masks.shape))


def error_panel(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """One class: TP/FP/FN colours on black, (H, W, 3) float."""
    out = _flat(truth.shape)
    out[truth & pred] = TP_COLOUR
    out[~truth & pred] = FP_COLOUR
    out[truth & ~pred] = FN_COLOUR
    return out


def _fit(text: str, font: ImageFont.ImageFont, width: int) -> str:
    while text and font.getlength(text) > width:
        text = text[:-1]
    return text


def render_overlay(
    image: np.ndarray,
    truth: np.ndarray,
    pred: np.ndarray,
    classes: list[str],
    title: str,
    extra: Sequence[tuple[np.ndarray, str]] = (),
) -> Image.Image:
    """The overlay of one frame: image (H, W, C) uint8, truth/pred (H, W, K) boolean;
    `extra` panels (H, W, 3) float with their labels go last (evaluate.objects' panel)."""
    height, width = image.shape[:2]
    layout = Layout.for_frame(height, width, len(classes), len(extra))
    panels = [
        image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1),
        class_panel(truth),
        class_panel(pred),
        *(error_panel(truth[..., k], pred[..., k]) for k in range(len(classes))),
        *(panel for panel, _ in extra),
    ]
    labels = [
        "image",
        "ground truth",
        "prediction",
        *(f"{name}: TP FP FN" for name in classes),
        *(label for _, label in extra),
    ]
    canvas = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default_imagefont()
    draw.text((GAP, 2), _fit(title, font, layout.size[0] - 2 * GAP), fill=TEXT, font=font)
    for i, (panel, label) in enumerate(zip(panels, labels, strict=True)):
        x, y = layout.origin(i)
        tile = Image.fromarray(np.clip(np.rint(panel), 0, 255).astype(np.uint8), "RGB")
        tile = tile.resize((layout.panel_width, layout.panel_height), Image.Resampling.NEAREST)
        canvas.paste(tile, (x, y))
        draw.text((x, 2 + LINE), _fit(label, font, layout.panel_width), fill=TEXT, font=font)
    return canvas


def overlay_name(kind: str, rank: int, count: int) -> str:
    """`best_01.png`, `worst_03.png`: stable names so `dvc plots diff` pairs revisions."""
    digits = max(2, len(str(count)))
    return f"{kind}_{rank:0{digits}d}.png"


def save_png(image: Image.Image, path: Path) -> None:
    """PNG without metadata, so identical pixels always give identical bytes."""
    image.save(path, format="PNG", optimize=False, compress_level=9)
