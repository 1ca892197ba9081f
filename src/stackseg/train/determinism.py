"""Bit-reproducible training: on one machine (`fast`), or on any x86-64 machine (`portable`).

Seeds alone are not enough on CPU: `enable_op_determinism()` picks deterministic kernels,
but independent ops still run concurrently and can finish in a different order, changing
floating-point reductions. One inter-op thread removed that (identical weights over five
runs, at full speed: the kernels themselves still use every core through intra-op threads).

Across machines more things decide the bytes (measured, docs/reproducibility.md): which
kernel library TensorFlow runs (by default chosen by the CPU's features), the instruction
set oneDNN picks at run time, the intra-op thread count (by default the cores this process
may use), and the ops computed from the CPU's own estimate instructions (rsqrt, reciprocal).
`train.reproducibility: portable` pins the first three, and the other switches that change
which kernels run, through environment variables that TensorFlow and oneDNN read once, when
they start: `pin_environment` must run before TensorFlow is imported (`stackseg train`,
`evaluate` and `export` call it first; the train stage checks it, `check_pinned`); and
`portable_math` replaces the estimates by divisions while the stage runs. `fast` leaves all
of it to the machine.

This module imports TensorFlow only inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Literal

from stackseg.config import TrainConfig
from stackseg.contracts import Reproducibility
from stackseg.errors import ConfigError

log = logging.getLogger(__name__)

# The oneDNN instruction-set cap of portable mode: every x86-64 CI machine of today has AVX2
# (GitHub's hosted runners, AMD EPYC and Intel Xeon alike); AVX-512 and AMX are not everywhere.
PORTABLE_ISA = "AVX2"
# Which kernels portable mode runs, the same on every CPU: "1" oneDNN's, "0" TensorFlow's Eigen
# kernels (devtools/cpuid_identity.py measured both; docs/reproducibility.md)
PORTABLE_ONEDNN = "1"


def portable_environment(threads: int) -> dict[str, str | None]:
    """The variables portable mode sets (None: removed), whatever the user's environment."""
    return {
        # oneDNN reads ONEDNN_ first, then the older DNNL_ name: cap both
        "ONEDNN_MAX_CPU_ISA": PORTABLE_ISA,
        "DNNL_MAX_CPU_ISA": PORTABLE_ISA,
        # BF16/TF32 here (or TF's own switch) would let float32 convolutions round to
        # bfloat16 on CPUs that have it (AMX, AVX512_BF16): strict float32 everywhere
        "ONEDNN_DEFAULT_FPMATH_MODE": "STRICT",
        "TF_SET_ONEDNN_FPMATH_MODE": None,
        # the kernel library, named: unset, TensorFlow picks it by the CPU (oneDNN where the
        # CPU has AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX, its own Eigen kernels elsewhere:
        # `IsMKLEnabled`, measured); never ZenDNN's or TF's experimental deep-conv path
        "TF_ENABLE_ONEDNN_OPTS": PORTABLE_ONEDNN,
        "TF_ENABLE_ZENDNN_OPTS": "0",
        "TF_USE_DEEP_CONV2D": "0",
        # a fixed intra-op pool: the same reduction splits on 1 core or 64
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1",
    }


def pin_environment(
    train: TrainConfig,
    environ: MutableMapping[str, str] | None = None,
    if_started: Literal["refuse", "skip"] = "refuse",
) -> None:
    """In portable mode, set the variables that decide the weights' bytes; before TensorFlow.

    When TensorFlow is already imported in this process its thread pools and oneDNN's
    instruction set keep what they started with: training refuses (ConfigError), evaluate
    and export (`if_started="skip"`, called in one process by tests) go on as they are.
    """
    if train.reproducibility != "portable":
        return
    if "tensorflow" in sys.modules:
        if if_started == "skip":
            log.debug("TensorFlow already started: the portable variables are not set")
            return
        raise ConfigError(
            "train.reproducibility portable must be set up before TensorFlow starts: "
            "run `stackseg train` in its own process"
        )
    environ = os.environ if environ is None else environ
    for name, value in portable_environment(train.threads).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


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


def check_pinned(train: TrainConfig, environ: MutableMapping[str, str] | None = None) -> None:
    """Portable mode: refuse to train if the pinned environment is not in effect."""
    if train.reproducibility != "portable":
        return
    environ = os.environ if environ is None else environ
    wrong = [
        name
        for name, value in portable_environment(train.threads).items()
        if environ.get(name) != value
    ]
    if wrong:
        raise ConfigError(
            f"train.reproducibility portable: {', '.join(wrong)} not as portable mode sets "
            "them (TensorFlow started first?): run `stackseg train` in its own process"
        )


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (`grep -m1 'model name' /proc/cpuinfo`), or the platform's."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown"


def has_avx2(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    """Whether the CPU has AVX2 (the flags of /proc/cpuinfo); None if not known."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return "avx2" in line.split()
    except OSError:
        pass
    return None


def usable_cores() -> int:
    """The cores this process may run on (taskset, cgroup affinity): TF's default pool size."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def record(train: TrainConfig, environ: MutableMapping[str, str] | None = None) -> Reproducibility:
    """What the model card says decided the bytes besides data, params and code.

    portable: the cap and the thread count; the CPU model is NOT recorded, because the
    bytes must not depend on it and recording it would change models/model.json (and
    dvc.lock, and `git status`) on every other CPU. fast: the CPU model too.
    """
    environ = os.environ if environ is None else environ
    isa = environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA")
    threads = environ.get("TF_NUM_INTRAOP_THREADS", "")
    return Reproducibility(
        mode=train.reproducibility,
        isa_cap=isa or None,
        intra_op_threads=int(threads) if threads.isdigit() and int(threads) else usable_cores(),
        cpu_model=None if train.reproducibility == "portable" else cpu_model(),
    )


def configure_determinism(seed: int) -> None:
    """Seeds, deterministic ops and one inter-op thread; before TF runs its first op."""
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # runtime already initialised in this process (tests): keep going
        log.debug(
            "inter-op threads already fixed at %d",
            tf.config.threading.get_inter_op_parallelism_threads(),
        )
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


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


def log_mode(train: TrainConfig) -> None:
    """One line saying what decides the bytes; a warning where portable cannot hold."""
    if train.reproducibility == "fast":
        log.info(
            "reproducibility fast: bit-identical on this CPU type and core count only (%s, %d "
            "cores)",
            cpu_model(),
            usable_cores(),
        )
        return
    log.info(
        "reproducibility portable: oneDNN capped at %s, %d intra-op threads (on %s)",
        PORTABLE_ISA,
        train.threads,
        cpu_model(),
    )
    if has_avx2() is False:
        log.warning(
            "this CPU has no AVX2: oneDNN runs a lower instruction set, so these weights "
            "differ from portable runs on other machines"
        )


def set_precision(policy: str) -> None:
    """float32 or mixed_bfloat16 (bf16 compute, float32 weights; outputs stay float32)."""
    import keras

    keras.mixed_precision.set_global_policy(policy)
