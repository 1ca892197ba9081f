"""The --interactive picker, driven through its input stream."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest

from stackseg.infer.picker import NoChoice, pick, table


@dataclass
class Choice:
    label: str
    ref: str
    metrics: dict = field(default_factory=dict)


CHOICES = [
    Choice("v1.0.0 (prod)", "ref-1", {"test_iou": 0.81234, "baseline_iou": 0.1}),
    Choice("exp brave-cat", "ref-2", {"test_iou": 0.9}),
]


def test_the_table_numbers_the_choices_with_their_metrics():
    lines = table(CHOICES).splitlines()
    assert lines[0].split() == ["#", "model", "test_iou", "baseline_iou"]
    assert lines[1].split() == ["1", "v1.0.0", "(prod)", "0.8123", "0.1000"]
    assert lines[2].split() == ["2", "exp", "brave-cat", "0.9000", "-"]


def test_a_bad_answer_is_asked_again():
    out = io.StringIO()
    chosen = pick(CHOICES, io.StringIO("x\n7\n\n2\n"), out)
    assert chosen.ref == "ref-2"
    assert out.getvalue().count("not a choice") == 3


@pytest.mark.parametrize("answers", ["", "q\n", "0\n" * 20])
def test_end_of_input_quit_or_endless_bad_answers_end_clearly(answers):
    with pytest.raises(NoChoice, match="no model chosen"):
        pick(CHOICES, io.StringIO(answers), io.StringIO())


def test_nothing_to_choose_from():
    with pytest.raises(NoChoice, match="no registered versions"):
        pick([], io.StringIO("1\n"), io.StringIO())
