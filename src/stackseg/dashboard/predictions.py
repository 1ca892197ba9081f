"""The "Try the model" page's work, as plain functions (tested without Streamlit).

1. `load_model`: the model through `stackseg.infer.model` (infer's checks and messages),
   its card, and infer's `Runner.in_memory` (the backend of params `infer.backend`; the Keras model
   when that is `onnx` and the ONNX file is absent, with a note saying so).
2. `predict_upload` / `predict_pair`: an upload (PNG, JPEG, TIFF frame or stack) or a
   prepared test frame through the Runner's own scaling and prediction path, so the
   probabilities are those `stackseg infer` thresholds; a prepared test frame comes with its
   ground truth. A bad upload is one `InputDataError` line naming the file.
3. `present` / `overlay_image` / `fractions`: masks at the chosen thresholds (a pixel is in
   class k where its probability >= threshold k, as infer writes them), the overlay of the
   classes shown, and each class's share of the frame.
4. `mask_png` / `mask_tiff`: the masks to download: a frame as prepare writes masks (channel
   k = class k, 0/255), a stack as infer's `channels` mask TIFF (frames, H, W, K).
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stackseg.config import Config
from stackseg.contracts import ModelCard, Pair, mask_png_channels, read_manifest
from stackseg.dashboard.settings import Settings
from stackseg.errors import InputDataError
from stackseg.infer import model as models
from stackseg.infer import sources
from stackseg.infer.outputs import overlay
from stackseg.infer.stage import Runner

# small frames are shown enlarged (nearest neighbour) to at least this many pixels a side
MIN_SHOWN = 256


@dataclass
class Model:
    cfg: Config
    files: models.ModelFiles
    card: ModelCard
    runner: Runner
    note: str = ""  # why another backend than params infer.backend runs, if it does

    @property
    def classes(self) -> list[str]:
        return list(self.card.classes)


@dataclass
class Prediction:
    """One input's frames (8-bit, as the model saw them), probabilities and ground truth."""

    name: str
    frames: list[np.ndarray]  # uint8 (H, W, C)
    probs: list[np.ndarray]  # float32 (H, W, K)
    truth: list[np.ndarray] | None = None  # bool (H, W, K), for prepared test frames


def load_model(settings: Settings) -> Model:
    """The model of `settings`, loaded once per dashboard (the page caches it)."""
    cfg = settings.config()
    files = settings.model_files(cfg)
    backend_name, note = cfg.infer.backend, ""
    if backend_name == "onnx" and not files.onnx.is_file():
        backend_name = "keras"
        note = f"{files.onnx} not found (`dvc repro export` writes it): running the Keras model"
    runner = Runner.in_memory(cfg, files, backend_name, cfg.infer.threads)
    return Model(cfg, files, runner.card, runner, note)


def default_thresholds(card: ModelCard) -> list[float]:
    """Each class's threshold from the card (`output.thresholds`, one per class; cards of one
    `threshold` read as that value for every class)."""
    return [float(value) for value in card.output.thresholds]


def predict_file(model: Model, path: Path, max_frames: int) -> Prediction:
    """Every frame of an image or stack file through infer's Runner; InputDataError (one line
    naming the file) for an unusable file or one over `max_frames` frames."""
    reader = sources.open_input(path)
    try:
        sources.check_channels(path, reader, model.card.input.channels)
        if reader.frames > max_frames:
            raise InputDataError(
                f"{path.name}: {reader.frames} frames, the dashboard shows at most "
                f"{max_frames} (params dashboard.max_frames); use `stackseg infer` for it"
            )
        scaler = model.runner.scaler(path, reader, lambda: None)
        frames, probs = [], []
        for _, frame, frame_probs in model.runner.predictions(path, reader, scaler):
            frames.append(frame)
            probs.append(frame_probs)
    finally:
        reader.close()
    return Prediction(sources.output_name(path), frames, probs)


def safe_name(name: str) -> str:
    """The upload's file name without folders or unusual characters (it names the file in
    messages and downloads; the browser chooses it)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._")
    return cleaned or "upload"


def predict_upload(model: Model, name: str, data: bytes, max_frames: int) -> Prediction:
    """An uploaded file, written to a private temporary folder under its own name (infer's
    readers choose by suffix and name the file in their errors), then removed."""
    clean = safe_name(name)
    if Path(clean).suffix.lower() not in sources.SUFFIXES:
        raise InputDataError(
            f"{clean}: not an image file the model reads (expected {', '.join(sources.SUFFIXES)})"
        )
    if not data:
        raise InputDataError(f"{clean}: the file is empty")
    folder = Path(tempfile.mkdtemp(prefix="stackseg-dashboard-"))
    try:
        path = folder / clean
        path.write_bytes(data)
        return predict_file(model, path, max_frames)
    except InputDataError as exc:  # named as the user knows it, not by the temporary path
        raise InputDataError([line.replace(str(path), clean) for line in exc.problems]) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def split_pairs(settings: Settings, cfg: Config) -> list[Pair]:
    """The prepared test split's frames (InputDataError when nothing is prepared yet)."""
    return read_manifest(settings.path(cfg.paths.prepared), cfg.classes).split_pairs("test")


def predict_pair(model: Model, settings: Settings, pair: Pair) -> Prediction:
    """A prepared test frame (the JPEG/PNG evaluate reads) and its ground-truth mask."""
    from stackseg.evaluate.io import read_mask

    prepared = settings.path(model.cfg.paths.prepared)
    prediction = predict_file(model, prepared / pair.image, 1)
    truth = read_mask(prepared / pair.mask, len(model.classes))
    return Prediction(pair.name, prediction.frames, prediction.probs, [truth])


def present(probs: np.ndarray, thresholds: list[float]) -> np.ndarray:
    """bool (H, W, K): probability >= the class's threshold (infer's rule)."""
    return probs >= np.asarray(thresholds, dtype=np.float32)


def overlay_image(frame: np.ndarray, masks: np.ndarray, shown: list[bool]) -> np.ndarray:
    """uint8 RGB: the frame with the shown classes' colours blended in (infer's overlay;
    a hidden class keeps its colour slot, so colours do not move when toggling)."""
    visible = masks & np.asarray(shown, dtype=bool)
    return overlay(frame, visible)


def fractions(masks: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Each class's share of the frame's pixels."""
    pixels = max(1, masks.shape[0] * masks.shape[1])
    return {name: float(masks[..., k].sum()) / pixels for k, name in enumerate(classes)}


def enlarge(image: np.ndarray, min_side: int = MIN_SHOWN) -> np.ndarray:
    """Small frames enlarged by a whole factor (nearest neighbour) so their pixels show."""
    factor = max(1, -(-min_side // max(1, min(image.shape[:2]))))
    if factor == 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def gray_to_rgb(frame: np.ndarray) -> np.ndarray:
    return frame if frame.shape[-1] == 3 else np.repeat(frame[..., :1], 3, axis=-1)


def mask_png(masks: np.ndarray) -> bytes:
    """One frame's masks as prepare writes them: channel k = class k, 0/255 (L for one
    class, RGB for 2-3, RGBA for 4)."""
    from PIL import Image

    classes = masks.shape[-1]
    layers = np.where(masks, np.uint8(255), np.uint8(0))
    channels = mask_png_channels(classes)
    if channels > classes:
        padding = np.zeros((*masks.shape[:2], channels - classes), np.uint8)
        layers = np.concatenate([layers, padding], axis=-1)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    buffer = io.BytesIO()
    Image.fromarray(layers[..., 0] if channels == 1 else layers, mode=mode).save(buffer, "PNG")
    return buffer.getvalue()


def mask_tiff(masks: list[np.ndarray]) -> bytes:
    """A stack's masks as `stackseg infer` writes them (`channels` format): (frames, H, W,
    K) uint8 0/255, axes QYXS (QYX for one class), zlib."""
    import tifffile

    stack = np.stack([np.where(m, np.uint8(255), np.uint8(0)) for m in masks])
    one_class = stack.shape[-1] == 1
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        stack[..., 0] if one_class else stack,
        photometric="minisblack",
        compression="zlib",
        compressionargs={"level": 1},
        planarconfig=None if one_class else "contig",
        metadata={"axes": "QYX" if one_class else "QYXS"},
    )
    return buffer.getvalue()


def describe(model: Model) -> dict[str, Any]:
    """What the page says about the model: file, backend, classes, thresholds, lineage."""
    return {
        "model": str(model.files.keras),
        "backend": model.runner.backend.name,
        "classes": model.classes,
        "thresholds": default_thresholds(model.card),
        "code commit": model.card.lineage.code_commit,
    }
