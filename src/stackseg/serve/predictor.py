"""The model of a server, and predictions exactly as `stackseg infer` makes them.

`Predictor.load` resolves the files (`settings.Settings.model_files`), reads the card and
loads the backend through `stackseg.infer.model` (the checks and messages of `stackseg
infer`); predictions go through infer's own `Runner.predictions` (prepare's reader and
scaling rule, the training preprocessing, tiles over `infer.max_frame_pixels`) and, for a
stack, infer's own writer (`infer.outputs.InputOutputs`): a served mask is the mask
`stackseg infer` writes for the same file.

Every call takes a deadline (time.monotonic) and checks it between frames: a request over
`serve.timeout_s` stops within one frame (or one batch) instead of running to its end in
a thread nobody waits for.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stackseg.config import Config
from stackseg.contracts import ModelCard
from stackseg.errors import InputDataError
from stackseg.infer import model as models
from stackseg.infer import sources
from stackseg.infer.outputs import InputOutputs
from stackseg.infer.stage import Options, Runner
from stackseg.serve.errors import ApiError, input_error


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


@dataclass
class Predictor:
    cfg: Config
    files: models.ModelFiles
    card: ModelCard
    backend: Any
    options: Options

    @classmethod
    def load(cls, cfg: Config, files: models.ModelFiles, pool: int) -> Predictor:
        card = models.read_model_card(files)
        name = cfg.infer.backend
        backend = models.load_backend(files, name, backend_threads(cfg, pool), card)
        options = Options(
            inputs=[],
            out=Path("."),
            backend=name,
            batch_size=cfg.infer.batch_size,
            show_progress=False,
        )
        predictor = cls(cfg, files, card, backend, options)
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
        }

    def _open(self, path: Path) -> Any:
        try:
            reader = sources.open_input(path)
            try:
                sources.check_channels(path, reader, self.card.input.channels)
            except BaseException:
                reader.close()
                raise
        except InputDataError as exc:
            raise input_error(exc, path) from None
        return reader

    def _results(
        self, runner: Runner, path: Path, reader: Any, deadline: float
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        scaler = runner.scaler(path, reader, lambda: _check(deadline))
        for result in runner.predictions(path, reader, scaler):
            _check(deadline)
            yield result

    def frame(self, path: Path, deadline: float) -> np.ndarray:
        """Probabilities (H, W, K) of a one-frame upload (422 for a stack)."""
        reader = self._open(path)
        try:
            if reader.frames != 1:
                raise ApiError(
                    422,
                    "invalid_input",
                    f"the upload is a {reader.frames}-frame TIFF stack: POST it to "
                    "/predict/stack (/predict takes one frame)",
                )
            runner = Runner(self.cfg, self.options, self.files, self.card, self.backend)
            try:
                [(_, _, probs)] = list(self._results(runner, path, reader, deadline))
            except InputDataError as exc:
                raise input_error(exc, path) from None
            return probs
        finally:
            reader.close()

    def stack(self, path: Path, mask_format: str, deadline: float) -> Path:
        """The mask TIFF of a stack (infer's `<name>.mask.tif`), written beside the upload
        one page at a time; the caller streams it and removes the folder."""
        options = dataclasses.replace(self.options, format=mask_format, out=path.parent)
        runner = Runner(self.cfg, options, self.files, self.card, self.backend)
        reader = self._open(path)
        outputs = InputOutputs(path.parent, "result", len(self.card.classes), options)
        try:
            shape = (reader.frames, reader.height, reader.width)
            results = self._results(runner, path, reader, deadline)
            outputs.write(results, shape, self.card.output.threshold_array())
            return outputs.temps["mask"]
        except InputDataError as exc:
            outputs.discard()
            raise input_error(exc, path) from None
        except BaseException:
            outputs.discard()
            raise
        finally:
            reader.close()
