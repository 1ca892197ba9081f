"""`stackseg noise [--base REV] [--seeds N]`: the headline metrics' spread over N seeds at REV.

Computed once per base commit (N pipeline runs through DVC's experiment queue) and cached
in the DVC remote; later calls, and `stackseg report`, fetch it (docs/ci.md).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stackseg.errors import ConfigError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        default="HEAD",
        metavar="REV",
        help="the revision to measure; it must be checked out to compute (default: HEAD)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help="number of seeded runs (default: params report.noise_seeds)",
    )
    parser.add_argument(
        "--force", action="store_true", help="recompute even when an estimate is cached"
    )
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="print the cached estimate (local or remote) and never run anything",
    )


def seed_list(base_seed: int, count: int) -> list[int]:
    """Seeds seed+1 .. seed+N: none of them is the base's own run (params `seed`)."""
    return [base_seed + i for i in range(1, count + 1)]


def param_value(params_file: Path, dotted: str) -> int:
    """The integer value of a dotted param in params.yaml (what the runs vary)."""
    import yaml

    value: object = yaml.safe_load(params_file.read_text())
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"{params_file}: report.noise_param names `{dotted}`, which is not an integer "
            "param there: name the seed param the pipeline reads (e.g. seed)"
        )
    return value


def run(args: argparse.Namespace) -> None:
    from stackseg.config import load_config
    from stackseg.errors import StacksegError
    from stackseg.report.noise import get_or_compute, open_cache
    from stackseg.report.revisions import resolve_base
    from stackseg.report.seed_runs import run_seeds
    from stackseg.report.verdict import headline_metrics

    config = load_config(args.params)
    count = config.report.noise_seeds if args.seeds is None else args.seeds
    if count < 2:
        raise ConfigError(f"--seeds {count}: need at least 2 runs to measure a spread")
    cwd = Path.cwd()
    base = resolve_base(args.base, cwd)
    headlines = headline_metrics(list(config.classes))
    cache = open_cache(cwd)
    if args.cached_only:
        estimate = cache.get(base.sha)
        if estimate is None:
            raise StacksegError(
                f"no noise estimate for {base.described} in {cache.where}: "
                f"run `stackseg noise --base {base.ref}` where it is checked out"
            )
        computed = False
    else:
        metrics_file = Path(config.paths.evaluate_metrics).as_posix()
        estimate, computed = get_or_compute(
            cache,
            base.sha,
            seed_list(param_value(Path(args.params), config.report.noise_param), count),
            headlines,
            lambda seeds: run_seeds(
                cwd, base.sha, seeds, metrics_file, headlines, config.report.noise_param
            ),
            force=args.force,
        )
    how = "computed and stored in" if computed else "cached in"
    print(
        f"noise at {base.short}: {len(estimate.seeds)} seeds {list(estimate.seeds)} "
        f"({how} {cache.where}; machine: {estimate.machine or 'unknown'})"
    )
    spreads = [estimate.spread(h.key) for h in headlines]
    if all(spread is not None and spread.std == 0 for spread in spreads):
        log.warning(
            "every seed gave the same metrics: the seed does not reach the pipeline "
            "(is `seed` in the params of the train stage in dvc.yaml?); any change will be "
            "judged beyond noise"
        )
    for headline in headlines:
        spread = estimate.spread(headline.key)
        if spread is None:
            continue
        print(
            f"  {headline.key:<28} mean {spread.mean:.4f}  std {spread.std:.4f}  "
            f"min {spread.low:.4f}  max {spread.high:.4f}"
        )
