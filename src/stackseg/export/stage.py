"""The export stage: models/model.onnx for ONNX Runtime, checked against the Keras model.

1. Load the Keras model and its card (`stackseg.trained`) and the manifest (through
   `stackseg.contracts`); check the model against the params' classes and the prepared
   images' channels.
2. Convert it with Keras 3 `model.export(format="onnx")` (tf2onnx, opset `export.opset`;
   batch, height and width stay dynamic) into a temporary file beside models/model.onnx, and
   normalise it (`export.onnx`: run-independent names, no volatile text) so that the same
   model gives the same bytes on every run and dvc.lock does not change.
3. Parity on the test split at native resolution (`export.parity`): every frame through
   both backends (`stackseg.runtime`), the largest |ONNX - Keras| probability and the mask
   pixels that differ at the card's threshold. Above `export.max_abs_diff`, or any pixel
   differing: one line, exit 1, nothing written (the previous files, if any, stay).
4. Write metrics/export.json (deterministic figures only, so reruns give the same bytes)
   and move both files into place, the metrics last.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from stackseg import atomic
from stackseg.config import Config
from stackseg.contracts import MANIFEST_NAME, ModelCard, read_manifest
from stackseg.errors import InputDataError, StacksegError
from stackseg.export import onnx, parity

log = logging.getLogger(__name__)


def _significant(value: float) -> float:
    """3 significant digits: enough to read, and no float noise in the metrics file."""
    return float(f"{value:.3g}")


def metrics_document(result: parity.Parity, allowed: float, opset: int, size: int) -> dict:
    """metrics/export.json: numbers only (what `dvc metrics diff` compares)."""
    max_abs_diff = _significant(result.max_abs_diff)
    return {
        "parity": {
            "frames": result.frames,
            "pixels": result.pixels,
            "max_abs_diff": max_abs_diff,
            # the same as a share of export.max_abs_diff: `dvc metrics show/diff` print 5
            # decimals, which shows a difference of 2e-06 as 0.0 but this as 0.02
            "tolerance_used": _significant(max_abs_diff / allowed),
            "mask_pixels_differing": result.mask_pixels_differing,
        },
        "onnx": {"opset": opset, "megabytes": round(size / 1e6, 3)},
    }


def card_metadata(card: ModelCard) -> dict[str, str]:
    """What a user of the ONNX file alone needs from the model card."""
    return {
        "stackseg.classes": json.dumps(list(card.classes)),
        "stackseg.input": "float32 NHWC, uint8 pixel / 255; height and width multiples of "
        f"{card.input.size_multiple}",
        "stackseg.size_multiple": str(card.input.size_multiple),
        # per class, in stackseg.classes order (JSON)
        "stackseg.thresholds": json.dumps(card.output.thresholds),
    }


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KERAS_CALL = re.compile(
    r"^Exception encountered when calling (?:layer )?['\"]?([\w.]+?)['\"]?(?:\.call\(\))?\.?$"
)
# what to do about a failure in a known layer
_LAYER_ADVICE = {
    # Keras 3.15's resize compares the symbolic output size with 0 in Python, which fails
    # when height and width are dynamic (an issue of Keras, not of the model)
    "UpSampling2D": "Keras cannot trace bilinear upsampling with a dynamic frame size; "
    "train with train.upsampling: transpose",
}


def conversion_problem(exc: BaseException) -> str:
    """`: <reason>` in one line: the layer Keras names and the first sentence of the reason."""
    lines = [_ANSI.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    layer = None
    if lines and (match := _KERAS_CALL.match(lines[0])):
        layer, lines = match.group(1), lines[1:]
    reason = lines[0] if lines else type(exc).__name__
    reason = reason.split(". ")[0].rstrip(".")
    where = f" in {layer}" if layer else ""
    advice = f"; {_LAYER_ADVICE[layer]}" if layer in _LAYER_ADVICE else ""
    return f"{where}: {reason}{advice}"


def convert(model: Any, card: ModelCard, target: Path, opset: int, model_path: Path) -> int:
    """Step 2: the normalised ONNX file at `target`; returns its size in bytes."""
    try:
        onnx.export_onnx(model, target, opset, card.input.size_multiple)
        data = onnx.normalised_bytes(target, card_metadata(card))
    except ImportError as exc:
        raise StacksegError(
            [f"ONNX export needs tf2onnx and onnx ({exc.name or exc} is missing): install them"]
        ) from None
    except (ValueError, RuntimeError, TypeError, NotImplementedError) as exc:
        # tf2onnx's refusals (an op without an ONNX form at this opset...) and Keras' tracing
        # errors (TypeError subclasses) are exceptions of these kinds
        raise StacksegError(
            [f"{model_path}: ONNX conversion at opset {opset} failed{conversion_problem(exc)}"]
        ) from None
    target.write_bytes(data)
    return len(data)


def run(cfg: Config) -> dict:
    """The whole stage (steps 1-4); returns the export.json document it wrote."""
    from stackseg import trained
    from stackseg.runtime import KerasBackend, OnnxBackend

    model_path = Path(cfg.paths.model)
    model, card = trained.load_trained(cfg)
    prepared = Path(cfg.paths.prepared)
    manifest = read_manifest(prepared, cfg.classes)
    trained.check_channels(model, manifest, cfg)
    test = manifest.split_pairs("test")
    if not test:
        raise InputDataError([f"{prepared / MANIFEST_NAME}: the test split is empty"])
    onnx_path, metrics_path = Path(cfg.paths.onnx), Path(cfg.paths.export_metrics)
    # the metrics file is moved into place last: one who sees it also sees the model it
    # describes
    with (
        atomic.replacing(metrics_path) as staged_metrics,
        atomic.replacing(onnx_path) as staged_onnx,
    ):
        size = convert(model, card, staged_onnx, cfg.export.opset, model_path)
        result = parity.compare(
            prepared,
            test,
            manifest.image_channels,
            len(cfg.classes),
            KerasBackend(model),
            OnnxBackend(staged_onnx),
            trained.preprocess_function(),
            card.input.size_multiple,
            card.output.threshold_array(),
            cfg.evaluate.batch_size,
        )
        problem = result.problem(cfg.export.max_abs_diff)
        if problem:
            raise StacksegError(
                [
                    f"{onnx_path}: parity with {model_path} fails: {problem}; nothing "
                    "written (try another export.opset, or report the model)"
                ]
            )
        document = metrics_document(result, cfg.export.max_abs_diff, cfg.export.opset, size)
        staged_metrics.write_text(json.dumps(document, indent=2) + "\n")
    log.info(
        "ONNX parity on %d test frames: max |ONNX - Keras| %.3g, %d mask pixels differ -> "
        "%s (%.1f MB), %s",
        result.frames,
        result.max_abs_diff,
        result.mask_pixels_differing,
        onnx_path,
        size / 1e6,
        metrics_path,
    )
    return document
