"""The plan of a run: job results merged per stack in frame order, problem lines capped."""

from __future__ import annotations

from stackseg.prepare.jobs import FRAME_PROBLEMS_PER_FILE, StackResult, merge, problem_lines


def _part(name: str, first: int, frames: int, problems=(), source: str = "") -> StackResult:
    pairs = [{"stack": name, "frame": f} for f in range(first, first + frames)]
    return StackResult(name, first, frames, source, {}, pairs, list(problems))


def test_parts_finishing_in_any_order_merge_in_frame_order():
    parts = [_part("b", 4, 3), _part("a", 0, 2, source="h"), _part("b", 0, 4, source="g")]
    merged = merge(parts)
    assert [result.name for result in merged] == ["a", "b"]
    b = merged[1]
    assert [pair["frame"] for pair in b.pairs] == list(range(7))
    assert (b.frames, b.source_hash) == (7, "g")  # the first part hashed the stack


def test_a_stack_with_a_problem_keeps_no_pairs_but_every_problem():
    parts = [_part("a", 3, 3, [("m.tif", 4, "bad")]), _part("a", 0, 3, [("m.tif", 1, "bad")])]
    [merged] = merge(parts)
    assert merged.pairs == []
    assert problem_lines([merged]) == ["m.tif frame 1: bad", "m.tif frame 4: bad"]


def test_problem_lines_are_capped_per_file_with_a_summary():
    many = [("m.tif", frame, "bad") for frame in range(FRAME_PROBLEMS_PER_FILE + 3)]
    lines = problem_lines([StackResult("a", problems=[*many, ("i.tif", 0, "odd")])])
    assert len(lines) == FRAME_PROBLEMS_PER_FILE + 2
    assert "i.tif frame 0: odd" in lines
    assert lines[-1] == "m.tif: 3 more frames with problems (frames 10..12)"
