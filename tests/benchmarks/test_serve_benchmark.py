"""benchmarks/serve.py's figures: the tables hold the numbers and ratios they are given (the
script itself is run by hand: it starts a server and sends hundreds of requests)."""

from __future__ import annotations

from argparse import Namespace

from tests.benchmarks.test_figures import load


def test_serve_markdown_holds_latencies_and_ratios_per_size():
    bench = load("serve")
    args = Namespace(requests=160, clients=8)
    results = {
        "in process": {"p50": 50.0, "p99": 80.0, "throughput": 18.0, "cpu_own": 40.0},
        "HTTP, 1 client": {
            "p50": 55.0,
            "p99": 90.0,
            "throughput": 16.0,
            "cpu_server": 44.0,
            "cpu_own": 2.0,
        },
        "HTTP, many": {
            "p50": 200.0,
            "p99": 500.0,
            "throughput": 32.0,
            "cpu_server": 45.0,
            "cpu_own": 2.5,
        },
    }
    slow = {label: {k: 2 * v for k, v in row.items()} for label, row in results.items()}
    text = bench.markdown(args, {128: results, 256: slow}, load=1.25).splitlines()
    assert "160 timed" in text[0] and "Load average (1 min) when the run began: 1.2" in text[0]
    first = text.index("**128² frames**")
    assert text[first + 4 : first + 7] == [
        "| in process | 50.0 | 80.0 | 18.0 | 40.0 |",
        "| HTTP /predict, 1 client | 55.0 | 90.0 | 16.0 | 44.0 + 2.0 |",
        "| HTTP /predict, 8 clients | 200.0 | 500.0 | 32.0 | 45.0 + 2.5 |",
    ]
    assert text[first + 10 : first + 13] == [
        "| HTTP p50 at 1 client / in-process p50 | 1.10 | ≤ 1.2 |",
        "| p99 / p50 at 8 clients | 2.50 | ≤ 3 |",
        "| throughput at 8 clients / at 1 client | 2.00 | ≥ 1.5 |",
    ]
    second = text.index("**256² frames**")
    assert text[second + 4] == "| in process | 100.0 | 160.0 | 36.0 | 80.0 |"
    # what HTTP costs in CPU, whatever the load: (server + client) / in process
    assert "| CPU per image, HTTP 1 client (server + client) / in process | 1.15 |" in text[-2]
    assert text[-1].startswith("| CPU per image, the server alone / in process | 1.10 |")


def test_serve_figures_are_included_in_the_docs():
    from tests.conftest import ROOT

    assert '--8<-- "benchmarks/serve.md"' in (ROOT / "docs/serving.md").read_text()
    assert (ROOT / "docs/benchmarks/serve.md").is_file()
