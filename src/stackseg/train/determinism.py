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
`portable.portable_math` replaces the estimates by divisions while the stage runs. `fast` leaves all
of it to the machine.

This module imports TensorFlow only inside the functions that need it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
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
