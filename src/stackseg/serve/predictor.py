"""The model of a server, and predictions exactly as `stackseg infer` makes them.

`Predictor.load` resolves the files (`settings.Settings.model_files`), reads the card and
loads the backend through `stackseg.infer.model` (the checks and messages of `stackseg
infer`); predictions go through infer's own `Runner.predictions` (prepare's reader and
scaling rule, the training preprocessing, tiles over `infer.max_frame_pixels`) and, for a
stack, infer's own writer (`infer.outputs.InputOutputs`): a served mask is the mask
`stackseg infer` writes for the same file. A model of instance labels (the card's
`output.instances`) also gives infer's instance labels (`labels`, `stack(..., "labels")`).

Every call takes a deadline (time.monotonic) and checks it between frames: a request over
`serve.timeout_s` stops within one frame (or one batch) instead of running to its end in
a thread nobody waits for.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stackseg.config import Config
from stackseg.contracts import ModelCard
from stackseg.errors import InputDataError
from stackseg.infer import model as models
from stackseg.infer import sources
from stackseg.infer.outputs import MAX_LABEL, InputOutputs
from stackseg.infer.stage import Options, Runner
from stackseg.serve import drift
from stackseg.serve.errors import ApiError, input_error
from stackseg.serve.uploads import Upload


class Expired(Exception):
    """The request's deadline passed between two frames."""


def _check(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise Expired()


def backend_threads(cfg: Config, pool: int) -> int:
    """Intra-op threads per call: the cores shared out between the `pool` concurrent calls
    (infer.threads, when set, wins). Requests in parallel keep the cores busier than one
    request on every core: one thread was as fast as all at 96 px (docs/benchmarks/infer.md)."""
    from stackseg.runtime import usable_cores

    return cfg.infer.threads or max(1, usable_cores() // max(1, pool))


def _without_credentials(repo: str | None) -> str | None:
    """A registry URL without its user:token@ part (a clone URL may carry a token)."""
    if repo is None or "@" not in repo:
        return repo
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(repo)
    if not parts.scheme:  # git@host:org/repo: the user is no secret
        return repo
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _labels_error(cfg: Config, files: models.ModelFiles, card: ModelCard) -> str | None:
    """A labels model (`output.instances`): its `objects:` params are checked as infer
    checks them (ConfigError: the load fails); a server without scikit-image (the container's
    lock leaves it out) serves the masks and refuses labels with this reason."""
    if card.output.instances is None:
        return None
    try:
        from stackseg.objects.instances import check_seeds
    except ImportError as exc:
        return (
            f"this server cannot make instance labels ({exc}): install scikit-image and "
            "scipy (the container's requirements-serve.lock), or ask for format=png, tiff "
            "or json"
        )
    check_seeds(cfg.objects, card.output.instances.boundary_class, files.card)
    return None


@dataclass
class Predictor:
    cfg: Config
    files: models.ModelFiles
    card: ModelCard
    backend: Any
    options: Options
    runner: Runner = dataclasses.field(init=False)
    # why this server cannot make the card's instance labels (None: it can, or no labels)
    labels_error: str | None = dataclasses.field(init=False, default=None)

    @classmethod
    def load(cls, cfg: Config, files: models.ModelFiles, pool: int) -> Predictor:
        runner = Runner.in_memory(cfg, files, cfg.infer.backend, backend_threads(cfg, pool))
        predictor = cls(cfg, files, runner.card, runner.backend, runner.options)
        predictor.runner = runner
        predictor.labels_error = _labels_error(cfg, files, runner.card)
        predictor.warm_up()
        return predictor

    def warm_up(self) -> None:
        """One tiny frame through the backend: the first request pays for no lazy
        initialisation (memory arenas, kernels chosen on the first run)."""
        from stackseg.predict import predict_frames
        from stackseg.preprocessing import to_model_input

        side = self.card.input.size_multiple
        frame = np.zeros((side, side, self.card.input.channels), np.uint8)
        for _ in predict_frames(self.backend, [(0, frame)], to_model_input, side, 1):
            pass

    @property
    def makes_labels(self) -> bool:
        """A model of instance labels, and a server that can make them."""
        return self.card.output.instances is not None and self.labels_error is None

    def describe(self) -> dict[str, Any]:
        """GET /model: the card, where the model came from, and how it is run."""
        return {
            "card": self.card.model_dump(mode="json"),
            "origin": {
                "keras": self.files.keras.name,
                **self.files.origin,
                "repo": _without_credentials(self.files.origin.get("repo")),
            },
            "backend": self.backend.name,
            "classes": list(self.card.classes),
            "thresholds": self.card.output.thresholds,
            "instance_labels": self.makes_labels,
        }

    def _open(self, path: Path, upload: Upload | None = None) -> Any:
        try:
            reader = upload.open() if upload is not None else sources.open_input(path)
            try:
                sources.check_channels(path, reader, self.card.input.channels)
            except BaseException:
                reader.close()
                raise
        except InputDataError as exc:
            raise input_error(exc, path) from None
        return reader

    def _results(
        self, runner: Runner, path: Path, reader: Any, deadline: float, observe: bool = True
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        scaler = runner.scaler(path, reader, lambda: _check(deadline))
        for result in runner.predictions(path, reader, scaler):
            _check(deadline)
            if observe:  # the frame's features (GET /drift), in the drift thread
                drift.observe(self, result[1], result[2])
            yield result

    def answer(self, upload: Upload, deadline: float, encode: Callable[[np.ndarray], Any]) -> Any:
        """POST /predict's work: `encode(probabilities)` of a one-frame upload; the frame
        goes to the drift window only once the answer is made (the drift thread's numpy
        and scipy calls hold the GIL: started earlier, they slowed the encoding down)."""
        frame, probs = self.frame(upload, deadline)
        content = encode(probs)
        drift.observe(self, frame, probs)
        return content

    def frame(self, upload: Upload, deadline: float) -> tuple[np.ndarray, np.ndarray]:
        """(frame as the model saw it, probabilities) of a one-frame upload (422 for a stack)."""
        path = upload.name
        reader = self._open(path, upload)
        try:
            if reader.frames != 1:
                raise ApiError(
                    422,
                    "invalid_input",
                    f"the upload is a {reader.frames}-frame TIFF stack: POST it to "
                    "/predict/stack (/predict takes one frame)",
                )
            try:
                [(_, frame, probs)] = list(
                    self._results(self.runner, path, reader, deadline, observe=False)
                )
            except InputDataError as exc:
                raise input_error(exc, path) from None
            return frame, probs
        finally:
            reader.close()

    def labels(self, probs: np.ndarray) -> np.ndarray:
        """(H, W) uint16 instance labels of one frame, as `stackseg infer` writes them
        (501 if this server lacks scikit-image; the caller checked `card.output.instances`)."""
        if self.labels_error is not None:
            raise ApiError(501, "not_implemented", self.labels_error)
        present = probs >= self.card.output.threshold_array()
        labels = self.runner.instances(present, probs)
        if labels.size and int(labels.max()) > MAX_LABEL:
            raise ApiError(
                422,
                "invalid_input",
                f"{int(labels.max())} objects, more than a uint16 label image holds "
                f"({MAX_LABEL}); raise params objects.min_size",
            )
        return labels.astype(np.uint16)

    def stack(self, path: Path, mask_format: str, deadline: float) -> Path:
        """The mask TIFF of a stack (infer's `<name>.mask.tif`), or with `labels` its
        instance labels (`<name>.labels.tif`), written beside the upload one page at a
        time; the caller streams it and removes the folder."""
        labels = mask_format == "labels"
        if labels and self.labels_error is not None:
            raise ApiError(501, "not_implemented", self.labels_error)
        mask_format = "channels" if labels else mask_format
        options = dataclasses.replace(self.options, format=mask_format, out=path.parent)
        runner = Runner(self.cfg, options, self.files, self.card, self.backend)
        reader = self._open(path)
        instances = runner.instances if labels else None
        outputs = InputOutputs(path.parent, "result", len(self.card.classes), options, instances)
        try:
            shape = (reader.frames, reader.height, reader.width)
            results = self._results(runner, path, reader, deadline)
            outputs.write(results, shape, self.card.output.threshold_array())
            return outputs.temps["labels" if labels else "mask"]
        except InputDataError as exc:
            outputs.discard()
            raise input_error(exc, path) from None
        except BaseException:
            outputs.discard()
            raise
        finally:
            reader.close()
