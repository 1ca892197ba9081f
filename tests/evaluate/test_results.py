"""What the evaluate pass accumulates (evaluate.results): ranking and throughput."""

from __future__ import annotations

import numpy as np

from stackseg.evaluate.results import Frame, Ranking, Throughput
from tests.fixtures import make_pair


def _frame(name: str, iou: float) -> Frame:
    empty = np.zeros((1, 1, 1), bool)
    return Frame(name, iou, np.zeros((1, 1, 1), np.uint8), empty, empty)


def test_ranking_is_stable_under_ties_and_bounded():
    ranking = Ranking(keep=2)
    for name, iou in [("c", 0.5), ("a", 0.5), ("b", 0.9), ("d", 0.1)]:
        ranking.add(_frame(name, iou))
    assert [f.name for f in ranking.best] == ["b", "a"]
    assert [f.name for f in ranking.worst] == ["d", "a"]
    none = Ranking(keep=0)
    none.add(_frame("a", 1.0))
    assert none.best == [] and none.worst == []


def test_throughput_report_separates_the_first_batch():
    sizes = [(10, 10)] * 2 + [(20, 5)] * 3
    pairs = [make_pair(f"s{i}", 0, "test", h, w, [0.0]) for i, (h, w) in enumerate(sizes)]
    timer = Throughput(pairs, batch_size=4)
    assert timer.first_batch == 2  # the first batch holds only the frames of the first size
    for _ in pairs:
        timer.frame_done()
    report = timer.report()
    assert report.startswith("evaluated 5 test frames (0.00 megapixels) in ")
    assert "frames/s" in report and "after the first batch" in report
