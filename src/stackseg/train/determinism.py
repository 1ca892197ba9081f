"""Bit-reproducible training on one machine type, and the precision policy.

Seeds alone are not enough on CPU: `enable_op_determinism()` picks deterministic kernels,
but independent ops still run concurrently and can finish in a different order, changing
floating-point reductions. One inter-op thread removed that (identical weights over five
runs, at full speed: the kernels themselves still use every core through intra-op threads).
Must run before TensorFlow executes its first op.
"""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

log = logging.getLogger(__name__)


def configure_determinism(seed: int) -> None:
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # runtime already initialised in this process (tests): keep going
        log.debug(
            "inter-op threads already fixed at %d",
            tf.config.threading.get_inter_op_parallelism_threads(),
        )
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


def set_precision(policy: str) -> None:
    """float32 or mixed_bfloat16 (bf16 compute, float32 weights; outputs stay float32)."""
    keras.mixed_precision.set_global_policy(policy)
