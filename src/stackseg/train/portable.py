"""Portable mode's TensorFlow: started quietly, and without the CPU's estimate instructions.

Companion of `stackseg.train.determinism` (which pins the environment before TensorFlow
starts): `start_tensorflow` imports it without the notice `TF_ENABLE_ONEDNN_OPTS=1` prints,
and `portable_math` replaces the two ops whose results are the CPU's own estimates while a
stage runs (docs/reproducibility.md). The train, evaluate and export commands use both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

from stackseg.config import TrainConfig

log = logging.getLogger(__name__)


# what TensorFlow prints on stderr when oneDNN is on, whatever TF_CPP_MIN_LOG_LEVEL says
_ONEDNN_NOTICE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on"
)


def start_tensorflow(train: TrainConfig) -> None:
    """Import TensorFlow; in portable mode without its notice that oneDNN is on.

    Portable mode names `TF_ENABLE_ONEDNN_OPTS=1`, and TensorFlow then prints 4 lines at
    import (measured: twice "oneDNN custom operations are on" with absl's preamble), ignoring
    TF_CPP_MIN_LOG_LEVEL. While quiet (the level stackseg sets unless -v or the user's own),
    stderr goes through a temporary file during the import and comes back without them.
    """
    quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") not in ("", "0")
    if train.reproducibility != "portable" or not quiet or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not _ONEDNN_NOTICE.search(line):
                    sys.stderr.write(line)


@contextlib.contextmanager
def portable_math(train: TrainConfig) -> Iterator[bool]:
    """Portable mode: no op whose result is the CPU's own estimate (`rsqrtps`, `rcpps`).

    TensorFlow's `Rsqrt` and `Reciprocal` kernels start from the CPU's estimate instruction
    and refine it by one Newton step, which leaves the last bits to the estimate, and Intel
    and AMD estimate differently. Measured under QEMU (docs/reproducibility.md): of the ops
    this training runs, only these two gave other bytes than on the AMD host; `Sqrt`,
    division, `Exp`, `Log`, `Sigmoid` and the convolutions gave the same. Two places use them:
    Keras's batch norm (`rsqrt` of the variance) and the gradient of `log` (`grad *
    reciprocal(x)`: binary cross-entropy). Here batch norm divides by a square root, and the
    gradients of `Log` and `Log1p` divide: correctly rounded (IEEE 754) on every CPU. The
    layers and the saved model stay Keras's own; only this process's arithmetic changes.
    Enter before the first batch-norm call and the first gradient; leaving restores
    Keras and TensorFlow (tests call the commands in one process). Yields whether it applied
    (tests/train/test_portable_math.py checks the optimized graphs of a real training).
    """
    if train.reproducibility != "portable":
        yield False
        return
    import keras
    from keras.src import backend  # the module Keras's own ops call through

    if keras.backend.backend() != "tensorflow":
        yield False  # JAX's batch norm is XLA's (docs/going-big.md): not pinned here
        return
    import tensorflow as tf
    from tensorflow.python.framework import ops as tf_ops  # the gradient registry

    def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
        if axis != -1:  # as Keras's own: broadcast the statistics along `axis`
            shape = [1] * len(x.shape)
            shape[axis] = mean.shape[0]
            mean, variance = tf.reshape(mean, shape), tf.reshape(variance, shape)
            offset = None if offset is None else tf.reshape(offset, shape)
            scale = None if scale is None else tf.reshape(scale, shape)
        root = tf.sqrt(variance + epsilon)
        if scale is None:  # (x - mean) / root: no constant numerator
            out = (x - tf.cast(mean, x.dtype)) / tf.cast(root, x.dtype)
            return out if offset is None else out + tf.cast(offset, x.dtype)
        # tf.nn.batch_normalization's formula, with scale / sqrt for its rsqrt * scale
        inv = scale / root
        shift = -mean * inv if offset is None else offset - mean * inv
        return x * tf.cast(inv, x.dtype) + tf.cast(shift, x.dtype)

    def log_grad(op, grad):  # TensorFlow's _LogGrad with a division for its reciprocal
        with tf_ops.control_dependencies([grad]):
            return grad / tf.math.conj(op.inputs[0])

    def log1p_grad(op, grad):
        with tf_ops.control_dependencies([grad]):
            return grad / (1 + tf.math.conj(op.inputs[0]))

    registry = tf_ops._gradient_registry._registry  # no public way to replace a gradient
    saved = (
        backend.nn.batch_normalization,
        registry["Log"]["type"],
        registry["Log1p"]["type"],
        tf.config.optimizer.get_experimental_options().get("arithmetic_optimization", True),
    )
    # grappler's arithmetic optimizer rewrites `a / sqrt(b)` into `a * rsqrt(b)` (measured:
    # batch norm's divisions came back as Rsqrt): off. Its constant folding turns `1 / x`
    # into Reciprocal: avoided above (no numerator is the constant 1).
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
    batch_normalization.portable = True  # type: ignore[attr-defined]
    backend.nn.batch_normalization = batch_normalization
    registry["Log"]["type"], registry["Log1p"]["type"] = log_grad, log1p_grad
    log.debug("portable arithmetic: batch norm and the gradients of log by division")
    try:
        yield True
    finally:
        backend.nn.batch_normalization = saved[0]
        registry["Log"]["type"], registry["Log1p"]["type"] = saved[1], saved[2]
        tf.config.optimizer.set_experimental_options({"arithmetic_optimization": saved[3]})
