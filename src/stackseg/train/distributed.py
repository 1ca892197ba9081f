"""Data-parallel training: Keras 3 on the JAX backend with `keras.distribution.DataParallel`.

Why this engine (docs/going-big.md): `model.fit` under TensorFlow's
MultiWorkerMirroredStrategy fails in Keras 3 (keras#20585, tensorflow#72388), Ray Train's
TensorflowTrainer hits the same bug (ray#47464) and Horovod does not support TF >= 2.16.
Keras 3 on JAX runs the ordinary `model.fit` of the train stage over every device of every
process (`jax.distributed`; CPU collectives through gloo, jax's default
`jax_cpu_collectives_implementation`), and the `.keras` file it saves loads under
TensorFlow, so evaluate, export and serve are unchanged.

A process runs this path when KERAS_BACKEND=jax is set before Keras is imported
(`stackseg train --local-workers N` sets it for its workers). It joins a cluster when
Keras's variables KERAS_DISTRIBUTION_JOB_ADDRESSES (the coordinator's host:port),
KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID are set, or under a
SLURM step of several tasks (jax reads SLURM's variables itself).

Batches: `train.batch_size` is per replica (device); the global batch is that times the
replicas. The tf.data pipeline of dataset.py builds the global batches exactly as a single
process would (same order, crops and augmentation) and each process keeps its own slice of
every batch (`auto_shard_dataset=False`: Keras does not shard again). An epoch's last,
incomplete global batch is dropped so that every replica gets a full slice. Every process
feeds the whole validation batch: the validation metrics are those of a single process.
The learning rate is used as configured (docs/going-big.md: the scaling rule).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from stackseg.errors import ConfigError

log = logging.getLogger(__name__)

BACKEND_VAR = "KERAS_BACKEND"
# keras.distribution.initialize() reads these (Keras's own names; the launcher sets them)
ADDRESSES_VAR = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
PROCESSES_VAR = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID_VAR = "KERAS_DISTRIBUTION_PROCESS_ID"


def requested() -> bool:
    """True when this process must train on the JAX path (KERAS_BACKEND=jax)."""
    return os.environ.get(BACKEND_VAR) == "jax"


def _in_cluster() -> bool:
    if os.environ.get(ADDRESSES_VAR):
        return True
    return int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_STEP_ID" in os.environ


@dataclass(frozen=True)
class Replicas:
    """Where this process stands in the data-parallel run."""

    process: int  # 0 is the chief: the only one writing outputs
    processes: int
    local_devices: int  # replicas fed by this process
    devices: int  # replicas in all

    @property
    def chief(self) -> bool:
        return self.process == 0

    def summary(self, per_replica_batch: int) -> dict:
        """What the model card and the resume key record about the run."""
        return {
            "engine": "keras-jax-data-parallel",
            "jax": metadata.version("jax"),
            "processes": self.processes,
            "replicas": self.devices,
            "global_batch": per_replica_batch * self.devices,
        }


def setup() -> Replicas:
    """Join the cluster (if any) and make every Keras model data-parallel over all devices."""
    import jax

    if log.getEffectiveLevel() > logging.DEBUG:  # "Unable to initialize backend 'tpu'": noise
        logging.getLogger("jax").setLevel(logging.WARNING)
    # 64-bit types as under TensorFlow: the pooled metrics count pixels in float64
    jax.config.update("jax_enable_x64", True)
    import keras

    if keras.backend.backend() != "jax":
        raise ConfigError(
            f"{BACKEND_VAR}=jax must be set before Keras is imported (Keras runs on "
            f"{keras.backend.backend()}): set it in the environment of `stackseg train`"
        )
    import jax

    if _in_cluster():
        try:
            keras.distribution.initialize()
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"cannot join the training cluster ({ADDRESSES_VAR}="
                f"{os.environ.get(ADDRESSES_VAR)!r}): {str(exc).splitlines()[0]}"
            ) from None
    devices = jax.devices()
    if len(devices) > 1:  # one device: plain JAX (on a 1-device mesh the first step's state
        # comes back laid out on the mesh and the metrics reset off it: XLA compiled the
        # training step 3 times instead of once, measured)
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        )
    replicas = Replicas(
        process=jax.process_index(),
        processes=jax.process_count(),
        local_devices=jax.local_device_count(),
        devices=len(devices),
    )
    log.info(
        "data-parallel on JAX: process %d of %d, %d of %d replicas here",
        replicas.process,
        replicas.processes,
        replicas.local_devices,
        replicas.devices,
    )
    return replicas


def shard_train(dataset, steps_per_epoch: int, epochs: int, replicas: Replicas, per_replica: int):
    """This process's slice of every full global batch of `dataset` (built with the global
    batch size); returns (dataset, steps per epoch)."""
    import tensorflow as tf

    global_batch = per_replica * replicas.devices
    local = per_replica * replicas.local_devices
    start = replicas.process * local  # processes own consecutive slices (jax.devices() order)
    sharded = (
        dataset.filter(lambda image, masks: tf.shape(image)[0] == global_batch)
        .map(lambda image, masks: (image[start : start + local], masks[start : start + local]))
        .apply(tf.data.experimental.assert_cardinality(epochs * steps_per_epoch))
    )
    return sharded.prefetch(tf.data.AUTOTUNE)


def full_steps(pairs: int, per_replica: int, replicas: Replicas) -> int:
    """Full global batches per epoch; refuses a split too small for one."""
    global_batch = per_replica * replicas.devices
    steps = pairs // global_batch
    if steps == 0:
        raise ConfigError(
            f"train.batch_size {per_replica} x {replicas.devices} replicas = {global_batch} "
            f"is more than the {pairs} train pairs: lower train.batch_size or the replicas"
        )
    return steps


def weights_digest(model) -> str:
    """sha256 over every model variable's bytes (the same on every replica, or a bug)."""
    digest = hashlib.sha256()
    for variable in model.variables:
        digest.update(np.ascontiguousarray(np.asarray(variable.numpy())).tobytes())
    return digest.hexdigest()


def check_agreement(model, replicas: Replicas) -> str:
    """Every process must hold the same weights; returns their digest (logged)."""
    digest = weights_digest(model)
    if replicas.processes > 1:
        from jax.experimental import multihost_utils

        multihost_utils.assert_equal(
            np.frombuffer(bytes.fromhex(digest), np.uint8),
            "the workers ended with different weights",
        )
    log.info("all %d processes hold the same weights: sha256 %s", replicas.processes, digest)
    return digest
