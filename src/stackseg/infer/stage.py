"""`stackseg infer`: segment new images and stacks with a trained model.

1. Find the inputs (`sources.find_inputs`: files, folders of them) and refuse two with the
   same output name; resolve the model (`model`: --model, the workspace's, or the registry)
   and read its card (thresholds, size multiple, input channels, classes).
2. Load the backend (onnx or keras, `stackseg.runtime`), checked against the card.
3. For each input, streaming one frame at a time (never a whole stack in memory):
   a. open it through prepare's reader and check its channels against the card;
   b. uint16/float: the model's scaling rule (card `prepared_scaling`): the training or
      fixed rule's one window, or (stack rule) a statistics pass over all frames gives
      prepare's percentile window;
   c. the predict pass: frames scaled to 8 bits, preprocessed as in training, in batches of
      `infer.batch_size` through `predict.predict_frames` (frames over
      `infer.max_frame_pixels`: overlapping tiles, `tiles.predict_tiled`), thresholded at
      the card's per-class thresholds and written page by page (`outputs`), with a progress bar;
      models of instance labels (the card's `output.instances`) also get instance labels
      per frame (`stackseg.objects.instances`, params `objects:`);
   d. the sidecar, then every output of the input moved into place together.
   A bad input (damaged, wrong channels) is one line naming the file (and frame); nothing
   is written for it, the other inputs still run, and the command exits 3 at the end.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stackseg import __version__
from stackseg.config import Config
from stackseg.contracts import ModelCard
from stackseg.errors import InputDataError
from stackseg.infer import model as models
from stackseg.infer import sources
from stackseg.infer.outputs import InputOutputs
from stackseg.infer.tiles import predict_tiled
from stackseg.predict import predict_frames
from stackseg.prepare.scaling import Scaler, ScaleWindow
from stackseg.preprocessing import to_model_input
from stackseg.progress import progress

log = logging.getLogger(__name__)
SIDECAR_FORMAT = "stackseg-infer/1"


@dataclass(frozen=True)
class Options:
    """What the command line chose (defaults from params `infer:`)."""

    inputs: list[str]
    out: Path
    backend: str
    format: str = "channels"
    png: bool = False
    overlays: bool = False
    probabilities: bool = False
    batch_size: int = 8
    threads: int = 0
    show_progress: bool = True


@dataclass
class Runner:
    """The model and settings shared by every input."""

    cfg: Config
    options: Options
    files: models.ModelFiles
    card: ModelCard
    backend: Any

    @classmethod
    def in_memory(
        cls, cfg: Config, files: models.ModelFiles, backend_name: str, threads: int
    ) -> Runner:
        """A Runner for frames predicted in memory (the server, the dashboard): the card
        read and the backend loaded as infer does, no inputs, no progress bars, params
        `infer.batch_size`; `threads` intra-op threads (0: the backend's default)."""
        card = models.read_model_card(files)
        backend = models.load_backend(files, backend_name, threads, card)
        options = Options(
            inputs=[],
            out=Path("."),
            backend=backend_name,
            batch_size=cfg.infer.batch_size,
            show_progress=False,
        )
        return cls(cfg, options, files, card, backend)

    def predictions(
        self, path: Path, reader: sources.FrameReader, scaler: Any
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        infer, multiple = self.cfg.infer, self.card.input.size_multiple
        frames = sources.scaled_frames(path, reader, scaler)
        if self.tiled(reader):
            for index, frame in enumerate(frames):
                probs = predict_tiled(
                    self.backend,
                    frame,
                    to_model_input,
                    multiple,
                    self.options.batch_size,
                    infer.tile_size,
                    infer.tile_overlap,
                )
                yield index, frame, probs
            return
        yield from predict_frames(
            self.backend, enumerate(frames), to_model_input, multiple, self.options.batch_size
        )

    def tiled(self, reader: sources.FrameReader) -> bool:
        """Frames over the memory budget are predicted in overlapping tiles."""
        return reader.height * reader.width > self.cfg.infer.max_frame_pixels

    @functools.cached_property
    def model_hash(self) -> str:
        """The model file's hash for the sidecars: read once, not once per input."""
        from stackseg.prepare.raw import file_hash

        return file_hash(str(self.files.keras))

    @functools.cached_property
    def instances(self) -> Any:
        """(present, probs) -> instance labels for models of instance labels, else None."""
        contract = self.card.output.instances
        if contract is None:
            return None
        from stackseg.objects.instances import instances

        objects, boundary = self.cfg.objects, contract.boundary_class
        return lambda present, probs: instances(present, objects, probs, boundary)

    def scaler(
        self, path: Path, reader: sources.FrameReader, on_frame: Callable[[], object]
    ) -> Scaler:
        """Step b: the model's scaling rule (its card's `prepared_scaling`) for this input:
        the training or fixed rule's one window, or for the stack rule the statistics
        pass(es) of a uint16/float input (`on_frame` after each frame read); serve calls it
        too."""
        rule = self.card.prepared_scaling
        fixed = rule.window_for(reader.dtype)
        if fixed is not None:
            return Scaler(reader.dtype, ScaleWindow(*fixed), rule.rule)
        window = sources.stack_window(
            path, reader, rule.low_percentile, rule.high_percentile, on_frame
        )
        return Scaler(reader.dtype, window)

    def one(self, path: Path) -> None:
        """Step 3 for one input; InputDataError if it is unusable (nothing written)."""
        reader = sources.open_input(path)
        try:
            sources.check_channels(path, reader, self.card.input.channels)
            # step b: the statistics pass(es) of a uint16/float stack, with their own bar
            rule = self.card.prepared_scaling
            passes = 0 if rule.window_for(reader.dtype) else sources.statistics_passes(reader.dtype)
            with progress(
                passes * reader.frames,
                f"infer {path.name}: scaling statistics",
                "frame",
                enabled=self.options.show_progress and passes > 0,
            ) as stats_bar:
                scaler = self.scaler(path, reader, lambda: stats_bar.update(1))
            name = sources.output_name(path)
            outputs = InputOutputs(
                self.options.out, name, len(self.card.classes), self.options, self.instances
            )
            try:
                shape = (reader.frames, reader.height, reader.width)
                with progress(
                    reader.frames, f"infer {path.name}", "frame", enabled=self.options.show_progress
                ) as bar:
                    outputs.write(
                        self.predictions(path, reader, scaler),
                        shape,
                        self.card.output.threshold_array(),
                        lambda: bar.update(1),
                    )
                outputs.commit(self.sidecar(path, reader, scaler, outputs))
            finally:
                outputs.discard()
        finally:
            reader.close()

    def sidecar(
        self, path: Path, reader: Any, scaler: Any, outputs: InputOutputs
    ) -> dict[str, Any]:
        """What made these masks: the input, the model and its lineage, the settings."""
        from stackseg.prepare.raw import file_hash

        rule, infer = self.card.prepared_scaling, self.cfg.infer
        return {
            "format": SIDECAR_FORMAT,
            "stackseg_version": __version__,
            "input": {
                "path": str(path),
                "xxh3_128": file_hash(str(path)),
                "bytes": path.stat().st_size,
                "frames": reader.frames,
                "height": reader.height,
                "width": reader.width,
                "channels": reader.channels,
                "dtype": reader.dtype,
                "axes": reader.axes,
                "scaling": scaler.record(reader.dtype, rule.low_percentile, rule.high_percentile),
            },
            "model": {
                "keras": str(self.files.keras),
                "keras_xxh3_128": self.model_hash,
                "card": str(self.files.card),
                "onnx": str(self.files.onnx) if self.backend.name == "onnx" else None,
                "version": self.files.origin.get("version"),
                "stage": self.files.origin.get("stage"),
                "commit": self.files.origin.get("commit"),
                "repo": self.files.origin.get("repo"),
            },
            "lineage": self.card.lineage.model_dump(mode="json"),
            "classes": list(self.card.classes),
            "thresholds": self.card.output.thresholds,
            "backend": self.backend.name,
            "mask_format": self.options.format,
            "objects": (
                self.cfg.objects.model_dump(mode="json") if self.instances is not None else None
            ),
            "tiles": (
                {"tile_size": infer.tile_size, "tile_overlap": infer.tile_overlap}
                if self.tiled(reader)
                else None
            ),
            "frames": reader.frames,
            "outputs": outputs.relative_names(),
        }


def run(cfg: Config, options: Options, files: models.ModelFiles) -> list[Path]:
    """Steps 1-3 for a resolved model; returns the mask stacks written."""
    paths = sources.find_inputs(options.inputs)
    sources.check_unique_names(paths)
    card = models.read_model_card(files)
    if card.output.instances is not None:  # refused before the model is loaded
        from stackseg.objects.instances import check_seeds

        check_seeds(cfg.objects, card.output.instances.boundary_class, files.card)
    backend = models.load_backend(files, options.backend, options.threads, card)
    runner = Runner(cfg, options, files, card, backend)
    options.out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    written: list[Path] = []
    for path in paths:
        try:
            runner.one(path)
        except InputDataError as exc:
            problems += exc.problems  # reported together at the end (cli prints each line)
            continue
        written.append(options.out / f"{sources.output_name(path)}.mask.tif")
        log.info("%s -> %s", path, written[-1])
    if problems:
        skipped = f"{len(problems)} input(s) not segmented (nothing written for them)"
        raise InputDataError([*problems, skipped] if len(paths) > 1 else problems)
    return written
