"""Which base results the CML job can compare as they are, and which it retrains first."""

from __future__ import annotations

import pytest

from stackseg.report.base_repro import Runner, decide, from_runner

RUNNER = Runner(cpu_model="Runner CPU", cores=4, isa_cap=None, avx2=True)


def card(mode: str | None, cpu: str | None = None, threads: int = 4, isa=None, tag="") -> dict:
    record = {"mode": mode, "isa_cap": isa, "intra_op_threads": threads, "cpu_model": cpu}
    lineage: dict = {"code_sha256": tag}
    if mode is not None:
        lineage["reproducibility"] = record
    return {"lineage": lineage}


PORTABLE = card("portable", isa="AVX2", threads=2)


@pytest.mark.parametrize(
    ("base", "pr", "action"),
    [
        (None, PORTABLE, ""),  # no base results: the report says so
        (card("portable", isa="AVX2", threads=2, tag="b"), card("fast", "Runner CPU"), ""),
        (card("fast", "Other CPU"), card("fast", "Other CPU", tag="pr"), ""),  # same machine
        (card(None, tag="b"), card(None, tag="b"), ""),  # the PR did not retrain: same model
        (card("fast", "Other CPU"), PORTABLE, "reproduce"),
        (card("fast", "Runner CPU", threads=8), card("fast", "Runner CPU"), "reproduce"),
        (card(None, tag="old"), PORTABLE, "reproduce"),  # a card from before the mode
        (card("fast", "Other CPU"), card("fast", "Dev CPU"), "note"),  # PR pulled, not ours
        ({"lineage": "garbled"}, None, "note"),
    ],
    ids=[
        "no-base",
        "portable-base",
        "same-machine",
        "same-model",
        "fast-elsewhere",
        "other-core-count",
        "no-record",
        "pr-from-another-machine",
        "unreadable",
    ],
)
def test_decide(base, pr, action):
    got, why = decide(base, pr, RUNNER)
    assert got == action
    assert bool(why) == bool(action)


def test_messages_name_both_machines():
    action, why = decide(card("fast", "Other CPU", threads=8, isa="AVX512_CORE"), PORTABLE, RUNNER)
    assert action == "reproduce"
    assert (
        why
        == "the base was trained in fast mode on Other CPU with 8 threads, oneDNN capped at AVX512_CORE"
    )
    action, why = decide(card("fast", "Other CPU"), card("fast", "Dev CPU"), RUNNER)
    assert action == "note" and "Dev CPU" in why and "Runner CPU, 4 cores" in why


def test_portable_results_are_not_this_runners_without_avx2():
    assert from_runner(PORTABLE["lineage"]["reproducibility"], RUNNER)
    old = Runner(cpu_model="Old CPU", cores=2, isa_cap=None, avx2=False)
    assert not from_runner(PORTABLE["lineage"]["reproducibility"], old)
