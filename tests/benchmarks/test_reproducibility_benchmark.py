"""benchmarks/reproducibility.py: the table and ratio it writes (the training runs are not)."""

from __future__ import annotations

from tests.benchmarks.test_figures import load


def test_summary_reports_the_ratio_and_flags_non_identical_rounds():
    bench = load("reproducibility")
    text = bench.summary(
        {"portable": [80.0, 100.0, 90.0], "fast": [100.0, 120.0]},
        {"portable": [60.0, 50.0, 70.0], "fast": [40.0, 60.0]},
        {"portable": ["a", "a", "a"], "fast": ["b", "c"]},
        {"portable": 0.81, "fast": 0.8},
    )
    rows = text.splitlines()
    assert rows[2] == "| portable | 90.0 (80.0, 100.0, 90.0) | 60 (60, 50, 70) | yes | 0.8100 |"
    assert rows[3] == "| fast | 110.0 (100.0, 120.0) | 50 (40, 60) | NO | 0.8000 |"
    assert rows[-1] == "portable / fast: 0.82x images/s, 1.20x CPU seconds per run"
