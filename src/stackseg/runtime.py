"""The inference backends: one object with `predict_on_batch(batch) -> probabilities`.

Both take a preprocessed float32 (N, H, W, C) batch whose sides are multiples of the model's
size multiple (stackseg.predict pads and crops) and return float32 (N, H, W, K)
probabilities, so either plugs into `predict.predict_frames` as evaluate's Keras model does:

- `onnx`: ONNX Runtime on models/model.onnx (the export stage's output, dynamic height and
  width). One InferenceSession is thread-safe; spinning is off so that an idle server does
  not burn its cores, and the intra-op thread count is set explicitly (0 = the cores this
  process may use).
- `keras`: the Keras model called through one `tf.function` with a (None, None, None, C)
  input signature: a single trace serves every frame size. `model.predict` pays for a new
  tf.data pipeline on each call (134 ms against 15 ms per 96 x 96 frame, measured for the
  demo model), which an inference loop must not.

The choice of default (params `infer.backend`) is measured by benchmarks/infer.py
(docs/benchmarks/infer.md): either ONNX Runtime session was about twice as fast as the Keras
tf.function at 96 and 256 px, so `onnx` is the default. ONNX Runtime's default session
(which spins) was a millisecond or two faster on a quiet machine and slower on a busy one;
spinning stays off (docs/inference.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

BackendName = Literal["onnx", "keras"]
BACKENDS: tuple[str, ...] = ("onnx", "keras")


class Backend(Protocol):
    name: str

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray: ...


def cpu_model() -> str:
    """The CPU's marketing name (Linux: /proc/cpuinfo), else what `platform` knows: speed and
    bit-identity depend on it, so benchmarks and the noise estimate say which it was."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class OnnxBackend:
    """ONNX Runtime on the CPU; `threads` 0 = usable_cores()."""

    name = "onnx"

    def __init__(self, path: str | Path, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or usable_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # idle worker threads sleep instead of spinning (a server waits most of the time)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.channels = self.session.get_inputs()[0].shape[-1]
        self.outputs = self.session.get_outputs()[0].shape[-1]

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return np.asarray(self.session.run(None, {self.input_name: batch})[0], dtype=np.float32)


class KerasBackend:
    """The Keras model behind one tf.function traced for any batch, height and width."""

    name = "keras"

    def __init__(self, model: Any):
        import tensorflow as tf

        self.model = model
        self.channels = int(model.inputs[0].shape[-1])
        self.outputs = int(model.outputs[0].shape[-1])
        signature = [tf.TensorSpec((None, None, None, self.channels), tf.float32)]

        def call(batch):
            return model(batch, training=False)

        try:  # traced once, now: one graph for every size
            self._call = tf.function(call, input_signature=signature)
            self._call.get_concrete_function()
        except (TypeError, ValueError):
            # Keras 3.15's bilinear UpSampling2D cannot be traced with a dynamic height and
            # width (its resize compares the symbolic size with 0 in Python): one trace per
            # input shape instead (a stack's frames share one, plus the last short batch)
            self._call = tf.function(call)

    @classmethod
    def load(cls, path: str | Path) -> KerasBackend:
        from stackseg.models import load_model

        return cls(load_model(Path(path)))

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        output = self._call(np.ascontiguousarray(batch, dtype=np.float32))
        return np.asarray(output, dtype=np.float32)


def load_backend(name: str, keras_path: str | Path, onnx_path: str | Path, threads: int = 0):
    """The named backend for a model whose files are `keras_path` and `onnx_path`."""
    if name == "onnx":
        return OnnxBackend(onnx_path, threads)
    if name == "keras":
        return KerasBackend.load(keras_path)
    raise ValueError(f"unknown backend {name!r}: expected one of {', '.join(BACKENDS)}")
