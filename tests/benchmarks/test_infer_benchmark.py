"""benchmarks/infer.py's figures: the tables hold the numbers they are given (the script
itself is run by hand: its start-ups of `stackseg infer` cost a minute even on toy data)."""

from __future__ import annotations

from argparse import Namespace

from tests.benchmarks.test_figures import load


def test_infer_markdown_holds_throughput_ratios_and_latencies():
    bench = load("infer")
    args = Namespace(frames=490, size=256, baseline_frames=60, repeat=15)
    lat = {
        "keras model.predict": {96: 134.0, 256: 184.0},
        "onnxruntime, tuned": {96: 9.5, 256: 40.25},
    }
    text = bench.markdown(
        args,
        throughput={"onnx": 30.0, "keras": 20.0},
        steady={"onnx": 40.0, "keras": 25.0},
        startup={"onnx": 2.0, "keras": 9.0},
        loop=5.0,
        lat=lat,
        sizes=[96, 256],
    ).splitlines()
    assert "490-frame 256²" in text[0]
    assert text[4] == "| per-frame `model.predict` loop | 5.0 | 1.00 | | | |"
    assert text[5] == "| `stackseg infer --backend onnx` | 30.0 | 6.00 | ≥ 3 | 2.0 | 40.0 |"
    assert text[6] == "| `stackseg infer --backend keras` | 20.0 | 4.00 | ≥ 3 | 9.0 | 25.0 |"
    assert text[-4] == "| backend | 96² (ms) | 256² (ms) |"
    assert text[-2:] == [
        "| keras model.predict | 134.0 | 184.0 |",
        "| onnxruntime, tuned | 9.5 | 40.2 |",
    ]


def test_infer_figures_are_included_in_the_docs():
    from tests.conftest import ROOT

    assert '--8<-- "benchmarks/infer.md"' in (ROOT / "docs/inference.md").read_text()
    assert (ROOT / "docs/benchmarks/infer.md").is_file()
