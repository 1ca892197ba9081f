"""`stackseg report --base REV`: Markdown comparing the workspace's results with REV."""

from __future__ import annotations

import argparse
from pathlib import Path

from stackseg.errors import StacksegError
from stackseg.report.markdown import COMMENT_LIMIT

MIN_CHARS = 2_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        required=True,
        metavar="REV",
        help="git revision to compare with (e.g. origin/main)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("report.md"), help="report file (default: report.md)"
    )
    parser.add_argument(
        "--images-dir",
        type=Path,
        default=Path("report"),
        help="where plot images go, linked by relative path (default: report/)",
    )
    parser.add_argument("--no-images", action="store_true", help="tables and notes only, no plots")
    parser.add_argument(
        "--text-out",
        type=Path,
        metavar="FILE",
        help="also write a text-only version (e.g. for a CI job summary)",
    )
    parser.add_argument(
        "--note",
        action="append",
        default=[],
        metavar="TEXT",
        help="a note shown at the top (repeatable)",
    )
    parser.add_argument(
        "--noise-base",
        metavar="REV",
        help="read the noise estimate of REV instead of --base's (a base retrained here)",
    )
    parser.add_argument(
        "--max-chars",
        type=int,
        default=COMMENT_LIMIT,
        help=f"comment size limit to stay under (default: GitHub's {COMMENT_LIMIT})",
    )


def run(args: argparse.Namespace) -> None:
    # params.yaml is validated like every stage's, so a broken one is reported first
    from stackseg.config import load_config
    from stackseg.report import ReportOptions, write_report

    config = load_config(args.params)
    if args.max_chars < MIN_CHARS:
        raise StacksegError(f"--max-chars {args.max_chars}: must be at least {MIN_CHARS}")
    write_report(
        ReportOptions(
            base=args.base,
            out=args.out,
            images_dir=args.images_dir,
            images=not args.no_images,
            notes=tuple(args.note),
            max_chars=args.max_chars,
            text_out=args.text_out,
            classes=tuple(config.classes),
            metrics_file=config.paths.evaluate_metrics.as_posix(),
            noise_k=config.report.noise_k,
            detail_prefixes=(config.paths.train_live.as_posix(),),
            noise_base=args.noise_base,
        )
    )
