"""Run the pipeline at the checked-out commit once per seed, through DVC's experiment queue.

1. check the workspace is the base commit with no tracked changes (a queued experiment
   runs the workspace as it is: uncommitted edits would be measured as "the base");
2. remove leftovers of an interrupted earlier call (same experiment names);
3. queue one experiment per seed: `dvc exp run --queue -S seed=<s> -n noise-<commit>-s<s>`
   (the param is params `report.noise_param`: `train.seed` in the demo);
4. run the queue in the foreground: `dvc exp run --run-all -j 1` (starts the queue's
   worker, like `dvc queue start`, and waits until every queued run has finished; one job:
   the runs share the machine's cores, as the PR's own run does);
5. read each run's evaluate metrics from `dvc exp show --json`;
6. remove the experiments (`dvc exp remove`): only the numbers are kept.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from stackseg.errors import StacksegError
from stackseg.report import revisions
from stackseg.report.dvc_cli import run_dvc
from stackseg.report.verdict import Headline, lookup

log = logging.getLogger(__name__)

RUN_TIMEOUT_S = 6 * 3600  # N full trainings; the CI job's own timeout is the real bound


def experiment_name(commit: str, seed: int) -> str:
    return f"noise-{commit[:8]}-s{seed}"


def check_workspace(cwd: Path, commit: str) -> None:
    """The seeds run the workspace: it must be `commit`, with no tracked file changed."""
    head = _git(["rev-parse", "HEAD"], cwd)
    if head != commit:
        raise StacksegError(
            f"the workspace is at {head[:8]}, not the base {commit[:8]}: the seeded runs use the "
            f"checked-out commit; run `git switch --detach {commit[:8]}` first (or run "
            "`stackseg noise` where the base is checked out, e.g. CI on the base branch)"
        )
    dirty = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    if dirty:
        first = dirty.splitlines()[0].strip()
        raise StacksegError(
            f"tracked files differ from {commit[:8]} ({first} ...): the seeded runs would "
            "measure them too; commit or stash them (`git stash`) first"
        )


def _git(args: list[str], cwd: Path) -> str:
    proc = revisions.git(args, cwd)
    if proc.returncode != 0:
        raise StacksegError(f"`git {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _show(cwd: Path) -> list:
    raw = run_dvc(["exp", "show", "--json"], cwd)
    try:
        show = json.loads(raw)
    except json.JSONDecodeError:
        raise StacksegError("`dvc exp show --json` printed something that is not JSON") from None
    return show if isinstance(show, list) else []


def _remove(cwd: Path, names: list[str], show: list) -> None:
    """Remove the named experiments (queued, failed or done) that `show` lists."""
    listed = {
        exp.get("name")
        for baseline in show
        if isinstance(baseline, dict)
        for exp in baseline.get("experiments") or []
        if isinstance(exp, dict)
    }
    present = [name for name in names if name in listed]
    if present:
        run_dvc(["exp", "remove", "-q", *present], cwd)


def collect(
    show: list, commit: str, names: dict[str, int], metrics_file: str, keys: list[str]
) -> dict[int, dict[str, float | None]]:
    """{seed: {key: value}} from `dvc exp show --json` output, for the named experiments."""
    found: dict[int, dict[str, float | None]] = {}
    for baseline in show:
        if not isinstance(baseline, dict) or baseline.get("rev") != commit:
            continue
        for exp in baseline.get("experiments") or []:
            name = exp.get("name")
            if name not in names:
                continue
            revs = exp.get("revs") or [{}]
            data = (revs[0] or {}).get("data") or {}
            tree = ((data.get("metrics") or {}).get(metrics_file) or {}).get("data") or {}
            found[names[name]] = {key: lookup(tree, key) for key in keys}
    return found


def run_seeds(
    cwd: Path,
    commit: str,
    seeds: list[int],
    metrics_file: str,
    headlines: list[Headline],
    param: str = "seed",
) -> dict[int, dict[str, float | None]]:
    """Steps 1-6 of this module; {seed: {metric key: value}}."""
    check_workspace(cwd, commit)
    names = {experiment_name(commit, seed): seed for seed in seeds}
    _remove(cwd, list(names), _show(cwd))
    for name, seed in names.items():
        run_dvc(["exp", "run", "--queue", "-q", "-S", f"{param}={seed}", "-n", name], cwd)
    log.info("running %d seeded experiments at %s (dvc exp run --run-all)", len(seeds), commit[:8])
    try:
        run_dvc(["exp", "run", "--run-all", "-j", "1"], cwd, timeout=RUN_TIMEOUT_S)
    except StacksegError as exc:
        raise StacksegError(
            f"a seeded run failed ({exc.problems[0]}); see `dvc queue status` and "
            f"`dvc queue logs <name>`, then `dvc queue remove --all` (names: {', '.join(names)})"
        ) from None
    show = _show(cwd)
    found = collect(show, commit, names, metrics_file, [h.key for h in headlines])
    missing = sorted(set(seeds) - set(found))
    if missing:
        raise StacksegError(
            f"no finished experiment for seed(s) {missing} at {commit[:8]}: see `dvc queue status`"
        )
    _remove(cwd, list(names), show)
    return found
