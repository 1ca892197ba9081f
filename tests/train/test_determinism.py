"""train.reproducibility: what portable pins, and that it makes the bytes machine-independent.

This machine cannot be another CPU type, so the slow test perturbs what differs between
machines and a user can change here: the cores the process may use (TensorFlow's default
thread pool follows them), oneDNN's instruction set (`ONEDNN_MAX_CPU_ISA` in the user's
environment, as a CPU without AVX-512 would have it) and the kernel library (TensorFlow
turns oneDNN on by default only on CPUs with VNNI or AMX). portable must give the same bytes
under both; fast must not (so the perturbation is real and the test can fail). Across CPU
vendors: the committed bytes of devtools/portable_hash.json, checked on whatever CPU runs
the suite (CI machines vary), and devtools/cpuid_identity.py (docs/reproducibility.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import portable_hash
from stackseg.contracts import read_card
from stackseg.errors import ConfigError
from stackseg.train import determinism
from tests.conftest import train_config
from tests.train.prepared_data import start_tiny_train

CLASSES = ["disc", "ring", "streak"]
# an instruction set below the portable cap, available on every x86-64 CPU
USER_ISA = "SSE41"


def test_portable_sets_every_variable_and_removes_the_fpmath_switch():
    environ = {
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
        "TF_SET_ONEDNN_FPMATH_MODE": "BF16",
        "TF_ENABLE_ONEDNN_OPTS": "0" if determinism.PORTABLE_ONEDNN == "1" else "1",
    }
    train = train_config(reproducibility="portable", threads=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.delitem(sys.modules, "tensorflow", raising=False)
        determinism.pin_environment(train, environ)
    assert environ["ONEDNN_MAX_CPU_ISA"] == environ["DNNL_MAX_CPU_ISA"] == "AVX2"
    assert environ["TF_NUM_INTRAOP_THREADS"] == "3" and environ["TF_NUM_INTEROP_THREADS"] == "1"
    assert environ["ONEDNN_DEFAULT_FPMATH_MODE"] == "STRICT"
    # named, not left to TensorFlow, whose default follows the CPU (VNNI, AMX: oneDNN)
    assert environ["TF_ENABLE_ONEDNN_OPTS"] == determinism.PORTABLE_ONEDNN
    assert "TF_SET_ONEDNN_FPMATH_MODE" not in environ
    determinism.check_pinned(train, environ)  # in effect: no error
    record = determinism.record(train, environ)
    assert (record.mode, record.isa_cap, record.intra_op_threads) == ("portable", "AVX2", 3)
    assert record.cpu_model is None  # the bytes must not depend on it


def test_fast_leaves_the_environment_and_records_the_cpu():
    environ = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    train = train_config(reproducibility="fast")
    determinism.pin_environment(train, environ)
    assert environ == {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    determinism.check_pinned(train, environ)
    record = determinism.record(train, environ)
    assert record.isa_cap == "AVX512_CORE" and record.cpu_model == determinism.cpu_model()
    assert record.intra_op_threads == len(os.sched_getaffinity(0))


def test_portable_refuses_once_tensorflow_started():
    train = train_config(reproducibility="portable")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "tensorflow", sys)  # any module: "already imported"
        with pytest.raises(ConfigError, match="before TensorFlow starts"):
            determinism.pin_environment(train, {})
    with pytest.raises(ConfigError, match="ONEDNN_MAX_CPU_ISA, DNNL_MAX_CPU_ISA"):
        determinism.check_pinned(train, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"})


def test_cpu_facts_from_cpuinfo(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse4_1 avx\n")
    assert determinism.cpu_model(cpuinfo) == "Test CPU 9000"
    assert determinism.has_avx2(cpuinfo) is False
    assert determinism.has_avx2(tmp_path / "absent") is None


def _train(root: Path, mode: str, cores: set[int], user_isa: str | None) -> subprocess.Popen:
    env = dict(os.environ)
    for name in ("ONEDNN_MAX_CPU_ISA", "TF_NUM_INTRAOP_THREADS", "TF_ENABLE_ONEDNN_OPTS"):
        env.pop(name, None)
    if user_isa:
        env["ONEDNN_MAX_CPU_ISA"] = user_isa
        # the other kernel library, as TensorFlow's default picks it on a CPU with(out) VNNI
        env["TF_ENABLE_ONEDNN_OPTS"] = "0" if determinism.PORTABLE_ONEDNN == "1" else "1"
    return start_tiny_train(root, mode, env, cores)


def _outputs(root: Path) -> dict[str, str]:
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
        for name in ("models", "metrics")
        for f in sorted((root / name).rglob("*"))
        if f.is_file()
    }


@pytest.mark.slow
def test_portable_bytes_do_not_depend_on_cores_or_the_users_isa(tmp_path: Path):
    cores = os.sched_getaffinity(0)
    one = {min(cores)}
    runs = {
        ("portable", "host"): (cores, None),
        ("portable", "perturbed"): (one, USER_ISA),
        ("fast", "host"): (cores, None),
        ("fast", "perturbed"): (one, USER_ISA),
    }
    procs = {
        key: _train(tmp_path / "-".join(key), key[0], *setting) for key, setting in runs.items()
    }
    try:
        for key, proc in procs.items():
            _, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, f"{key}: {err}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=60)
    out = {key: _outputs(tmp_path / "-".join(key)) for key in runs}
    # portable: every output file identical, the model card included
    assert out["portable", "host"] == out["portable", "perturbed"]
    # fast: the perturbation reaches the weights (otherwise the check above proves nothing)
    model = "models/model.keras"
    assert out["fast", "host"][model] != out["fast", "perturbed"][model]

    card = read_card(tmp_path / "portable-perturbed/models/model.json", CLASSES)
    assert card.lineage.reproducibility is not None
    assert card.lineage.reproducibility.model_dump() == {
        "mode": "portable",
        "isa_cap": "AVX2",
        "intra_op_threads": 2,
        "cpu_model": None,
    }
    fast = read_card(tmp_path / "fast-perturbed/models/model.json", CLASSES).lineage
    assert fast.reproducibility is not None
    assert (fast.reproducibility.isa_cap, fast.reproducibility.intra_op_threads) == (USER_ISA, 1)
    assert fast.reproducibility.cpu_model == determinism.cpu_model()


@pytest.mark.slow
@pytest.mark.skipif(
    determinism.has_avx2() is not True, reason="portable mode's bytes need AVX2 (x86-64)"
)
def test_portable_training_gives_the_committed_bytes(tmp_path: Path):
    """The proof that survives machines: the same bytes as committed, on this suite's CPU."""
    digest = portable_hash.train_hash(tmp_path)
    committed = json.loads(portable_hash.COMMITTED.read_text())
    assert digest == committed["sha256"], portable_hash.explain(digest, committed)
