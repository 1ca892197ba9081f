"""`stackseg synth`: write the built-in demo dataset (see stackseg.synth)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="output directory (default: params paths.raw)")
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument(
        "--full",
        action="store_true",
        help="the real scale for benchmarks (20,090 pairs): the synth section of "
        "profiles/full.yaml merged over params",
    )
    profile.add_argument(
        "--labels",
        action="store_true",
        help="the instance-label demo (nuclei, uint16 label masks with touching objects): "
        "profiles/labels.yaml merged over params",
    )
    parser.add_argument("--stacks", type=_positive, help="override synth.stacks")
    parser.add_argument("--frames", type=_positive, help="override synth.frames")
    parser.add_argument("--seed", type=_not_negative, help="override synth.seed")
    shift = parser.add_argument_group(
        "acquisition shifts (drift tests, docs/drift.md): same scenes and masks, another camera"
    )
    shift.add_argument(
        "--shift-brightness",
        type=int,
        default=0,
        metavar="LEVELS",
        help="add LEVELS 8-bit grey levels to every pixel (-255..255; negative: darker)",
    )
    shift.add_argument(
        "--shift-contrast",
        type=_not_negative,
        default=100,
        metavar="PERCENT",
        help="scale each pixel's distance from its frame's mean (100: unchanged)",
    )
    shift.add_argument(
        "--shift-blur",
        type=_not_negative,
        default=0,
        metavar="PASSES",
        help="extra 3x3 box-blur passes (out of focus; 2 ~ Gaussian sigma 1.15 px)",
    )
    shift.add_argument(
        "--shift-noise",
        type=_not_negative,
        default=0,
        metavar="SIGMA",
        help="extra sensor noise, its standard deviation in 8-bit grey levels",
    )
    parser.add_argument(
        "--workers",
        type=_not_negative,
        default=0,
        help="processes for large datasets (0 = all cores)",
    )
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing if the output already holds image stacks",
    )


def run(args: argparse.Namespace) -> None:
    from stackseg.config import load_config
    from stackseg.errors import ConfigError
    from stackseg.synth import (
        FULL_PROFILE,
        LABELS_PROFILE,
        Shift,
        generate,
        holds_stacks,
        settings_from_config,
        with_profile,
    )

    config = load_config(args.params)
    if args.full or args.labels:
        # the profile lives beside params.yaml, at the project root
        profile = FULL_PROFILE if args.full else LABELS_PROFILE
        config = with_profile(config, Path(args.params).parent / profile)
    out = args.out if args.out is not None else Path(config.paths.raw)
    if args.if_missing and (count := holds_stacks(out)):
        log.info("%s already holds %d image stacks: leaving them (--if-missing)", out, count)
        return
    try:
        shift = Shift(args.shift_brightness, args.shift_contrast, args.shift_blur, args.shift_noise)
    except ValueError as exc:
        raise ConfigError(f"--shift-*: {exc}") from None
    settings = settings_from_config(
        config, shift, stacks=args.stacks, frames=args.frames, seed=args.seed
    )
    generate(settings, out, workers=args.workers)
