"""train.reproducibility portable: no op whose result is the CPU's own estimate.

`rsqrtps` and `rcpps` give results of their own on each CPU (Intel and AMD estimate
differently); TensorFlow's `Rsqrt` and `Reciprocal` refine them by one Newton step, which
leaves the last bits to the estimate. Portable mode computes batch norm from a square root
and a division and the gradients of `Log`/`Log1p` by a division, and keeps grappler from
rewriting them back (train.portable.portable_math). These tests check the arithmetic bit for
bit against numpy float32 (whose sqrt and division are correctly rounded everywhere), in
eager and traced code, and the optimized graphs of a real `stackseg train`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stackseg.train import portable
from tests.conftest import train_config
from tests.train.prepared_data import start_tiny_train

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
from keras.src import backend  # noqa: E402  (the module portable_math patches)
from tensorflow.python.framework import ops as tf_ops  # noqa: E402

EPS = 1e-3
ESTIMATES = {"Rsqrt", "Reciprocal", "Inv"}  # ops computed from the CPU's own estimate


def _exact(x, mean, var, gamma, beta):
    """Portable batch norm in numpy float32: inv = gamma / sqrt(var + eps)."""
    inv = gamma / np.sqrt(var + np.float32(EPS))
    return x * inv + (beta - mean * inv)


def _layer(channels: int, rng: np.random.Generator):
    layer = keras.layers.BatchNormalization(epsilon=EPS)
    layer.build((None, 4, 4, channels))
    mean = rng.normal(0, 2, channels).astype(np.float32)
    var = rng.uniform(0.01, 9, channels).astype(np.float32)
    gamma = rng.normal(1, 0.3, channels).astype(np.float32)
    beta = rng.normal(0, 0.3, channels).astype(np.float32)
    layer.set_weights([gamma, beta, mean, var])
    return layer, mean, var, gamma, beta


def test_portable_batch_norm_is_the_correctly_rounded_formula():
    own = backend.nn.batch_normalization
    rng = np.random.default_rng(0)
    layer, mean, var, gamma, beta = _layer(64, rng)
    x = rng.normal(0, 3, (8, 4, 4, 64)).astype(np.float32)
    expected = _exact(x, mean, var, gamma, beta)
    with portable.portable_math(train_config(reproducibility="portable")) as applied:
        assert applied and getattr(backend.nn.batch_normalization, "portable", False)
        # inference, eager and traced (grappler optimizes the traced graph)
        assert np.array_equal(np.asarray(layer(x, training=False)), expected)
        traced = tf.function(lambda t: layer(t, training=False))
        assert np.array_equal(traced(tf.constant(x)).numpy(), expected)
        # training: the batch's statistics, as Keras computes them (ops.moments)
        batch_mean, batch_var = (np.asarray(t) for t in keras.ops.moments(x, axes=[0, 1, 2]))
        out = np.asarray(layer(x, training=True))
        assert np.array_equal(out, _exact(x, batch_mean, batch_var, gamma, beta))
    # leaving restores Keras's own batch norm, TensorFlow's gradients and grappler
    assert backend.nn.batch_normalization is own
    assert tf_ops._gradient_registry.lookup("Log").__name__ == "_LogGrad"
    assert tf.config.optimizer.get_experimental_options().get("arithmetic_optimization", True)


def test_portable_log_gradient_divides():
    x = np.random.default_rng(1).uniform(1e-3, 10, 10_000).astype(np.float32)
    dy = np.random.default_rng(2).normal(0, 1, 10_000).astype(np.float32)

    @tf.function
    def grads(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(dy * tf.math.log(t)) + tf.reduce_sum(dy * tf.math.log1p(t))
        return tape.gradient(loss, t)

    with portable.portable_math(train_config(reproducibility="portable")):
        got = grads(tf.constant(x)).numpy()
    assert np.array_equal(got, dy / x + dy / (np.float32(1) + x))


def test_tensorflows_rsqrt_and_reciprocal_are_estimates():
    """Why: their last bits are not the correctly rounded result (they are the CPU's)."""
    x = np.random.default_rng(1).uniform(1e-3, 10, 100_000).astype(np.float32)
    for estimated, exact in (
        (tf.math.rsqrt(x), np.float32(1) / np.sqrt(x)),
        (tf.math.reciprocal(x), np.float32(1) / x),
    ):
        estimated = np.asarray(estimated)
        assert not np.array_equal(estimated, exact)
        assert np.max(np.abs(estimated.view(np.int32) - exact.view(np.int32))) <= 4  # a few ulp


def test_fast_keeps_keras_batch_norm():
    own = backend.nn.batch_normalization
    log_grad = tf_ops._gradient_registry.lookup("Log")
    with portable.portable_math(train_config(reproducibility="fast")) as applied:
        assert not applied
        assert backend.nn.batch_normalization is own
        assert tf_ops._gradient_registry.lookup("Log") is log_grad
        layer, mean, var, gamma, beta = _layer(64, np.random.default_rng(2))
        x = np.random.default_rng(3).normal(0, 3, (8, 4, 4, 64)).astype(np.float32)
        # Keras's own path (rsqrt) is another arithmetic: the patch is what the tests see
        out = np.asarray(layer(x, training=False))
    assert not np.array_equal(out, _exact(x, mean, var, gamma, beta))


def _optimized_ops(root: Path, mode: str) -> subprocess.Popen:
    """`stackseg train` (tiny, 1 epoch) writing every graph grappler optimized to root/graphs."""
    env = {
        **os.environ,
        "TF_DUMP_GRAPH_PREFIX": str(root / "graphs"),
        "TF_CPP_VMODULE": "meta_optimizer=1",  # dumps after_MetaOptimizer_*.pbtxt
    }
    return start_tiny_train(root, mode, env)


@pytest.mark.slow
def test_portable_training_graphs_have_no_estimate_ops(tmp_path: Path):
    procs = {mode: _optimized_ops(tmp_path / mode, mode) for mode in ("portable", "fast")}
    ops = {}
    try:
        for mode, proc in procs.items():
            _, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"{mode}: {err[-2000:]}"
            dumps = sorted((tmp_path / mode / "graphs").glob("after_MetaOptimizer*.pbtxt"))
            assert dumps, f"{mode}: TensorFlow dumped no optimized graph"
            text = "".join(p.read_text() for p in dumps)
            ops[mode] = set(re.findall(r'\bop: "(\w+)"', text))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=60)
    # fast: Keras's batch norm (Rsqrt) and the log gradient (Reciprocal): the check can fail
    assert {"Rsqrt", "Reciprocal"} <= ops["fast"]
    # portable: the same model and loss trained with divisions and square roots only
    assert not ops["portable"] & ESTIMATES, sorted(ops["portable"] & ESTIMATES)
    assert {"Sqrt", "RealDiv", "Log"} <= ops["portable"]
