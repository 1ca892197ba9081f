"""Overlay PNGs: names by rank, valid images of the expected size, TP/FP/FN colours."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stackseg.evaluate import overlays


def test_names_by_rank_are_zero_padded_and_sort_by_rank():
    assert overlays.overlay_name("best", 1, 3) == "best_01.png"
    assert overlays.overlay_name("worst", 12, 12) == "worst_12.png"
    assert overlays.overlay_name("best", 7, 150) == "best_007.png"
    names = [overlays.overlay_name("worst", r, 10) for r in range(1, 11)]
    assert names == sorted(names)


@pytest.mark.parametrize(
    ("height", "width", "panel"),
    [(20, 30, (100, 150)), (200, 150, (200, 150)), (1024, 600, (512, 300))],
)
def test_layout_scales_small_frames_up_and_large_frames_down(height, width, panel):
    layout = overlays.Layout.for_frame(height, width, n_classes=2)
    assert (layout.panel_height, layout.panel_width) == panel
    assert layout.n_panels == 5


def test_overlay_colours_and_size(tmp_path):
    height, width = 20, 30
    image = np.full((height, width, 1), 100, np.uint8)
    truth = np.zeros((height, width, 2), bool)
    pred = np.zeros((height, width, 2), bool)
    truth[2:6, 2:6, 0] = pred[2:6, 2:6, 0] = True  # class 0 true positives
    pred[10:14, 20:25, 0] = True  # class 0 false positives
    truth[15:19, 3:8, 1] = True  # class 1 false negatives
    rendered = overlays.render_overlay(image, truth, pred, ["disc", "ring"], "best 1/1: f  IoU 0.5")
    path = tmp_path / overlays.overlay_name("best", 1, 1)
    overlays.save_png(rendered, path)

    with Image.open(path) as png:
        png.verify()
    with Image.open(path) as png:
        assert png.format == "PNG" and png.mode == "RGB"
        pixels = np.asarray(png)
    layout = overlays.Layout.for_frame(height, width, 2)
    assert (pixels.shape[1], pixels.shape[0]) == layout.size
    scale = layout.panel_height // height

    def at(panel: int, row: int, col: int) -> tuple[int, ...]:
        x, y = layout.origin(panel)
        return tuple(pixels[y + row * scale + scale // 2, x + col * scale + scale // 2])

    disc, ring = 3, 4  # error panels follow image, ground truth, prediction
    assert at(disc, 3, 3) == overlays.TP_COLOUR
    assert at(disc, 11, 22) == overlays.FP_COLOUR
    assert at(ring, 16, 5) == overlays.FN_COLOUR
    assert at(disc, 16, 5) == overlays.PANEL  # true negatives
    assert at(ring, 3, 3) == overlays.PANEL
    assert at(0, 0, 0) == (100, 100, 100)  # the image panel is the image itself
    disc_colour, ring_colour = overlays.CLASS_COLOURS[:2]
    assert (
        at(1, 3, 3) == disc_colour and at(1, 16, 5) == ring_colour and at(1, 0, 0) == overlays.PANEL
    )
    assert at(2, 11, 22) == disc_colour and at(2, 16, 5) == overlays.PANEL  # prediction panel


def test_overlapping_classes_get_their_mean_colour():
    masks = np.ones((1, 1, 2), bool)
    expected = (np.array(overlays.CLASS_COLOURS[0]) + overlays.CLASS_COLOURS[1]) / 2
    assert np.allclose(overlays.class_panel(masks)[0, 0], expected)


def test_same_input_gives_identical_png_bytes(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    truth = rng.random((16, 24, 1)) > 0.5
    pred = rng.random((16, 24, 1)) > 0.5
    for name in ("a.png", "b.png"):
        overlays.save_png(overlays.render_overlay(image, truth, pred, ["x"], "t"), tmp_path / name)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
