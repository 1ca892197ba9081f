"""One demo stack, frame by frame: a seeded random stream drives the scene and the camera."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from stackseg.synth import nuclei
from stackseg.synth.render import compose, drift, make_look, mask_pixels, to_dtype
from stackseg.synth.scene import advance, make_things, rasterise
from stackseg.synth.shift import Shift, apply_shift


@dataclass(frozen=True)
class SynthSettings:
    """Everything that determines the demo dataset's bytes."""

    stacks: int
    frames: int
    height: int
    width: int
    channels: int
    dtype: str
    seed: int
    n_classes: int
    mask_format: str
    shift: Shift = field(default_factory=Shift)  # drift tests: the camera changed (shift.py)

    def describe(self) -> str:
        colour = "RGB" if self.channels == 3 else "grayscale"
        masks = f"{self.n_classes} classes as {self.mask_format} masks"
        if self.mask_format == "labels":
            masks = "nuclei as instance-label masks"
        shifted = f", shifted: {self.shift.describe()}" if self.shift.active else ""
        return (
            f"{self.stacks} demo stacks x {self.frames} frames of {self.height}x{self.width} "
            f"{colour} {self.dtype}, {masks}, seed {self.seed}{shifted}"
        )

    def stack_name(self, index: int) -> str:
        digits = max(3, len(str(self.stacks - 1)))
        return f"stack_{index:0{digits}d}"


def stack_rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """Random stream `stream` of stack `index`: independent of how many stacks are made.
    Stream 0 drives the scene (so masks do not depend on the image channels or dtype),
    stream 1 the camera noise, stream 2 a shift's extra noise."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, stream)))


def stack_frames(settings: SynthSettings, index: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(image, mask) of each frame of stack `index`, generated lazily."""
    rng = stack_rng(settings.seed, index, 0)
    noise_rng = stack_rng(settings.seed, index, 1)
    shift_rng = stack_rng(settings.seed, index, 2)
    height, width = settings.height, settings.width
    if settings.mask_format == "labels":
        yield from _nuclei_frames(settings, rng, noise_rng, shift_rng)
        return
    look = make_look(rng, height, width)
    things = make_things(rng, settings.n_classes, height, width)
    for number in range(settings.frames):
        if number:
            advance(rng, things, height, width)
            drift(rng, look)
        frame = rasterise(things, settings.n_classes, height, width, look.texture)
        camera = compose(noise_rng, look, frame, settings.channels)
        if settings.shift.active:
            camera = apply_shift(camera, settings.shift, shift_rng)
        yield to_dtype(camera, settings.dtype), mask_pixels(frame.masks, settings.mask_format)


def _nuclei_frames(
    settings: SynthSettings,
    rng: np.random.Generator,
    noise_rng: np.random.Generator,
    shift_rng: np.random.Generator,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The instance-label demo (nuclei.py): (image, uint16 label image) per frame."""
    height, width = settings.height, settings.width
    look = nuclei.dark_look(rng, height, width)
    clusters = nuclei.make_clusters(rng, height, width)
    for number in range(settings.frames):
        if number:
            nuclei.advance(rng, clusters, height, width)
            drift(rng, look)
        ids, frame = nuclei.rasterise(clusters, height, width, look.texture)
        camera = compose(noise_rng, look, frame, settings.channels)
        if settings.shift.active:
            camera = apply_shift(camera, settings.shift, shift_rng)
        yield to_dtype(camera, settings.dtype), ids
