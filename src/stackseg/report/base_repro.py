"""Can the PR's results be compared with the base's as they are, or must the base be retrained here?

The CML job trains the PR on whatever runner it gets. A base trained in portable mode
(train.reproducibility, docs/reproducibility.md) has the bytes any AVX2 machine would give:
compare directly. Any other base (fast mode on another CPU type or core count, or a card from
before the mode existed) differs from this runner's training by the hardware as well, so
scripts/cml-pr.sh retrains it here, in a temporary worktree, before comparing.

    python -m stackseg.report.base_repro REV [--card PATH]

prints `reproduce: <why>` (retrain the base here), `note: <why>` (not comparable, and
retraining the base here would not help: the PR's results come from another machine), or
nothing (compare as is); exit 0 either way, 1 when REV does not exist. Reads the base's
model card with `git show`, the PR's from the workspace (after its `dvc repro`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stackseg.train.determinism import cpu_model, has_avx2, usable_cores


@dataclass(frozen=True)
class Runner:
    """The machine this job trains on, in the model card's terms."""

    cpu_model: str
    cores: int
    isa_cap: str | None
    avx2: bool | None

    @classmethod
    def here(cls, environ: Mapping[str, str] | None = None) -> Runner:
        environ = os.environ if environ is None else environ
        isa = environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA") or None
        return cls(cpu_model(), usable_cores(), isa, has_avx2())


def _machine(record: dict) -> tuple:
    return (record.get("cpu_model"), record.get("intra_op_threads"), record.get("isa_cap"))


def _describe(record: dict) -> str:
    cpu, threads, isa = _machine(record)
    capped = f", oneDNN capped at {isa}" if isa else ""
    return f"{record.get('mode')} mode on {cpu} with {threads} threads{capped}"


def _record(card: dict | None) -> dict | None:
    lineage = card.get("lineage") if card else None
    record = lineage.get("reproducibility") if isinstance(lineage, dict) else None
    return record if isinstance(record, dict) else None


def from_runner(record: dict | None, runner: Runner) -> bool:
    """Whether results with this record are what training on this runner gives."""
    if record is None:
        return False
    if record.get("mode") == "portable":
        return runner.avx2 is not False
    return _machine(record) == (runner.cpu_model, runner.cores, runner.isa_cap)


def decide(base: dict | None, pr: dict | None, runner: Runner) -> tuple[str, str]:
    """("", "") compare as is | ("reproduce", why) retrain the base here | ("note", why).

    `base` and `pr` are the model cards (parsed JSON; None: none). A base without a card has
    no results (the report says so); a portable base has machine-independent bytes; a fast
    base trained on the PR's machine type compares directly. Otherwise the base is retrained
    on this runner, which only helps when the PR's own results are this runner's (a PR whose
    results were pulled from another machine gets a note instead).
    """
    record, pr_record = _record(base), _record(pr)
    if base is None or base == pr:  # no results, or the PR did not retrain: the same model
        return "", ""
    if record is not None and record.get("mode") == "portable":
        return "", ""
    fast_pr = pr_record is not None and pr_record.get("mode") == "fast"
    if record is not None and fast_pr and _machine(record) == _machine(pr_record or {}):
        return "", ""  # both trained on the same machine type
    why = (
        f"the base was trained in {_describe(record)}"
        if record is not None
        else "the base's model card predates train.reproducibility (its weights depend on the "
        "CPU it was trained on)"
    )
    if from_runner(pr_record, runner):
        return "reproduce", why
    pr_how = _describe(pr_record) if pr_record is not None else "an unrecorded mode"
    return "note", (
        f"{why}, the PR's results in {pr_how}, not on this runner ({runner.cpu_model}, "
        f"{runner.cores} cores): the comparison includes the hardware. Train both in portable "
        "mode (train.reproducibility) to compare the change alone"
    )


def base_card(rev: str, card_path: str, cwd: Path) -> dict | None:
    """The model card at `rev` (None if it has none); raises SystemExit if `rev` is unknown."""
    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if known.returncode != 0:
        raise SystemExit(f"base_repro: error: base revision {rev!r} not found")
    shown = subprocess.run(
        ["git", "show", f"{rev}:./{card_path}"], cwd=cwd, capture_output=True, text=True
    )
    if shown.returncode != 0:
        return None
    try:
        card = json.loads(shown.stdout)
    except json.JSONDecodeError:
        return {}  # unreadable: treated as a card without a reproducibility record
    return card if isinstance(card, dict) else {}


def _workspace_card(path: Path) -> dict | None:
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return card if isinstance(card, dict) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackseg.report.base_repro")
    parser.add_argument("rev", help="the base revision")
    parser.add_argument("--card", help="model card path (default: params paths.model_card)")
    args = parser.parse_args(argv)
    card_path = args.card
    if card_path is None:
        from stackseg.config import load_config

        card_path = load_config().paths.model_card.as_posix()
    base = base_card(args.rev, card_path, Path.cwd())
    action, why = decide(base, _workspace_card(Path(card_path)), Runner.here())
    if action:
        print(f"{action}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
