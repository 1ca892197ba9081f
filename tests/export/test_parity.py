"""export.parity.Parity: the figures that decide whether the ONNX file may be written."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.export.parity import Parity


def probs(*values: float) -> np.ndarray:
    """A 1 x len(values) frame of 2 classes, both channels equal to `values`."""
    row = np.asarray(values, np.float32)[None, :, None]
    return np.repeat(row, 2, axis=-1)


def test_identical_outputs_pass():
    parity = Parity()
    parity.add("a", probs(0.1, 0.9), probs(0.1, 0.9), 0.5)
    assert (parity.frames, parity.pixels, parity.max_abs_diff) == (1, 2, 0.0)
    assert parity.mask_pixels_differing == 0 and parity.problem(1e-4) is None


def test_largest_difference_and_its_frame():
    parity = Parity()
    parity.add("a", probs(0.1, 0.9), probs(0.1, 0.9 + 2e-5), 0.5)
    parity.add("b", probs(0.2, 0.3), probs(0.2 + 5e-5, 0.3), 0.5)
    parity.add("c", probs(0.2, 0.3), probs(0.2 + 1e-5, 0.3), 0.5)
    assert parity.max_abs_diff == pytest.approx(5e-5, rel=1e-2)
    assert parity.worst_frame == "b" and parity.frames == 3 and parity.pixels == 6
    assert parity.problem(1e-4) is None
    problem = parity.problem(1e-5)
    assert problem is not None and "max |ONNX - Keras| 5e-05 (allowed 1e-05" in problem
    assert "worst frame b" in problem


def test_a_mask_flip_fails_even_within_the_tolerance():
    parity = Parity()
    # 0.5 - 1e-7 and 0.5 sit on either side of the threshold (evaluate: probs >= threshold)
    parity.add("a", probs(0.5, 0.7), probs(np.nextafter(np.float32(0.5), 0), 0.7), 0.5)
    assert parity.max_abs_diff < 1e-4
    # both classes flip at that pixel: one pixel differs
    assert parity.mask_pixels_differing == 1
    assert "1 mask pixel(s) differing over 1 test frame(s)" in (parity.problem(1e-4) or "")


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="output shapes differ"):
        Parity().add("a", probs(0.1, 0.2), probs(0.1), 0.5)
