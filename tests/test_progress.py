"""stackseg.progress: a bar on a terminal, plain lines at a modest rate anywhere else."""

from __future__ import annotations

import io

import pytest

from stackseg.progress import Progress, format_seconds, progress


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_stderr_is_not_a_terminal(capsys):
    with progress(total=4, desc="prepare", unit="frame") as bar:
        for _ in range(4):
            bar.update(1)
    err = capsys.readouterr().err
    assert "\r" not in err  # no bar: one line per report, nothing overwritten
    lines = err.splitlines()
    # a line each time another 10% is done: 25%, 50%, 75%, 100%; the end is not repeated
    assert [line.split(",")[0] for line in lines] == [
        "prepare: 1/4 frames (25%)",
        "prepare: 2/4 frames (50%)",
        "prepare: 3/4 frames (75%)",
        "prepare: 4/4 frames (100%)",
    ]
    assert all(line.endswith(" s") for line in lines)


def test_at_most_one_line_per_step_of_the_total_on_a_fast_loop():
    out, clock = io.StringIO(), Clock()
    bar = Progress(20_090, "prepare", "frame", stream=out, clock=clock)
    for _ in range(20_090):
        clock.now += 0.0005  # 10 s in all: two lines by the clock at most
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) <= 12
    percents = [int(line.split("(")[1].split("%")[0]) for line in lines]
    assert percents == sorted(percents) and percents[-1] == 100
    assert lines[0] == "prepare: 2009/20090 frames (10%), 1.0 s"
    assert lines[-1] == "prepare: 20090/20090 frames (100%), 10.0 s"


def test_a_slow_loop_prints_every_interval_and_the_end():
    out, clock = io.StringIO(), Clock()
    bar = Progress(1000, "train", "epoch", stream=out, clock=clock, interval=5.0)
    for _ in range(23):  # 2.3% in 23 s: no 10% step, so the clock decides
        clock.now += 1.0
        bar.update(1)
    bar.close()
    assert out.getvalue().splitlines() == [
        "train: 5/1000 epochs (0%), 5.0 s",
        "train: 10/1000 epochs (1%), 10.0 s",
        "train: 15/1000 epochs (1%), 15.0 s",
        "train: 20/1000 epochs (2%), 20.0 s",
        "train: 23/1000 epochs (2%), 23.0 s",  # the end, always
    ]


def test_unknown_total_postfix_initial_and_nothing_to_say():
    out, clock = io.StringIO(), Clock()
    with progress(None, "synth", "stack", stream=out) as bar:
        bar.update(3)
    assert out.getvalue().startswith("synth: 3 stacks, ")
    out = io.StringIO()
    bar = Progress(10, "train", "epoch", initial=4, stream=out, clock=clock)
    bar.set_postfix(val_iou="0.8123")
    bar.clear()  # nothing to clear on plain lines
    clock.now += 1
    bar.update(1)
    bar.close()
    bar.close()  # once
    assert out.getvalue() == "train: 5/10 epochs (50%), 1.0 s, val_iou=0.8123\n"
    out = io.StringIO()
    with progress(10, "evaluate", "frame", stream=out, initial=0):
        pass  # no progress: no line
    with progress(10, "evaluate", "frame", stream=out, enabled=False) as bar:
        bar.update(10)
    assert out.getvalue() == ""


def test_a_bar_on_a_terminal_that_leaves_nothing_behind():
    out = Terminal()
    with progress(total=3, desc="synth", unit="frame", stream=out) as bar:
        bar.update(2)
        bar.set_postfix(stack="stack_001")
        bar.update(1)
        assert bar.n == 3
    text = out.getvalue()
    assert "synth:" in text and "2/3" in text and "stack=stack_001" in text  # tqdm's bar
    assert "\n" not in text and "frames (" not in text  # redrawn in place, not plain lines
    assert text.split("\r")[-2].strip() == ""  # erased at the end


def test_the_final_line_shows_how_far_a_failed_loop_got():
    out = io.StringIO()
    with pytest.raises(RuntimeError), progress(100, "prepare", "frame", stream=out) as bar:
        bar.update(5)
        raise RuntimeError("disk full")
    assert out.getvalue().startswith("prepare: 5/100 frames (5%), ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3.14, "3.1 s"), (59.94, "59.9 s"), (125, "2 min 5 s"), (3780, "1 h 3 min")],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text
