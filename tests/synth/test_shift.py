"""`stackseg synth --shift-*`: the same scenes and masks, another camera; reproducible."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stackseg import cli
from stackseg.drift.features import frame_features
from stackseg.synth import Shift, SynthSettings, stack_frames

PLAIN = SynthSettings(
    stacks=1, frames=3, height=48, width=48, channels=1, dtype="uint8", seed=5,
    n_classes=3, mask_format="channels",
)  # fmt: skip


def _frames(shift: Shift) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(stack_frames(dataclasses.replace(PLAIN, shift=shift), 0))


def test_shifts_change_the_pixels_as_documented_and_keep_the_masks():
    plain = _frames(Shift())
    for shift in (Shift(brightness=20), Shift(contrast=150), Shift(blur=2), Shift(noise=6)):
        shifted = _frames(shift)
        again = _frames(shift)  # reproducible
        assert all(np.array_equal(a[0], b[0]) for a, b in zip(shifted, again, strict=True))
        for (image, mask), (base, base_mask) in zip(shifted, plain, strict=True):
            assert np.array_equal(mask, base_mask)
            assert not np.array_equal(image, base)
    image, base = _frames(Shift(brightness=20))[0][0], plain[0][0]
    assert float(image.mean() - base.mean()) == pytest.approx(20, abs=1)
    features = [frame_features(frames[0][0]) for frames in (plain, _frames(Shift(contrast=150)))]
    assert features[1]["std"] == pytest.approx(1.5 * features[0]["std"], rel=0.05)
    blurred = frame_features(_frames(Shift(blur=2))[0][0])
    assert blurred["sharpness"] < 0.5 * features[0]["sharpness"]
    noisy = frame_features(_frames(Shift(noise=6))[0][0])
    # independent noises add in variance
    assert noisy["noise"] == pytest.approx(np.hypot(features[0]["noise"], 6), rel=0.1)


def test_bad_shifts_are_one_line(tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match="brightness"):
        Shift(brightness=300)
    monkeypatch.chdir(tmp_path)
    from tests.conftest import ROOT

    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    assert cli.main(["synth", "--out", "raw", "--shift-brightness", "-300"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "stackseg synth: error: --shift-*: brightness: expected -255..255 grey levels, got -300"
    ]
    assert not (tmp_path / "raw").exists()
