"""Building the prepared directory's manifest (`contracts.Manifest`) and reading the previous
one for an incremental run.

Besides the contract fields (classes, image_channels, scaling, splits, pairs, stacks) it
keeps a `fingerprint` of everything that decides the bytes of a pair other than the
source stack itself: the output-affecting params, the codecs and library versions, and
the source of this package. The next run reuses a stack's pairs only when the fingerprint
is unchanged and the stack's `source_hash` (its image and mask bytes) is too. Nothing
run-specific (times, counts of reused stacks) goes in, so an incremental run writes the
same manifest as a clean one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from importlib.metadata import version
from pathlib import Path

from stackseg.contracts import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    SPLITS,
    Manifest,
    read_manifest,
    scaling_rule,
)
from stackseg.errors import InputDataError
from stackseg.prepare.jobs import PreviousStack, StackJob, StackResult
from stackseg.prepare.settings import PrepareSettings, codec_description

log = logging.getLogger(__name__)

LIBRARIES = ("numpy", "tifffile", "imagecodecs", "simplejpeg", "opencv-python-headless")


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except Exception:  # e.g. another OpenCV wheel flavour provides cv2
            versions[name] = "unknown"
    return versions


def _code_hash() -> str:
    """Any change to the prepare code may change the bytes: it redoes every stack."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fingerprint(content_params: Mapping) -> str:
    payload = {
        "format": MANIFEST_FORMAT,
        "params": content_params,
        "libraries": _library_versions(),
        "code": _code_hash(),
    }
    text = json.dumps(payload, sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def read_previous(prepared: Path, expected_fingerprint: str) -> dict[str, PreviousStack]:
    """Stacks of the previous complete output that may be reused (empty if none)."""
    if not (prepared / MANIFEST_NAME).is_file():
        return {}
    try:
        manifest = read_manifest(prepared)
    except InputDataError as exc:
        # the contract's advice (rerun prepare) is what happens now: show only the reason
        log.warning("%s: redoing every stack", exc.problems[0].rsplit("; rerun", 1)[0])
        return {}
    if manifest.fingerprint != expected_fingerprint:
        log.info("params, libraries or prepare code changed: redoing every stack")
        return {}
    # plain dicts: the workers get them, and they do not load the contract models
    by_stack: dict[str, list[dict]] = {name: [] for name in manifest.stacks}
    for pair in manifest.pairs:
        by_stack[pair.stack].append(pair.model_dump())
    return {
        name: PreviousStack(
            source_hash=record.source_hash,
            root=str(prepared),
            pairs=tuple(by_stack[name]),
            scaling=record.scaling.model_dump(exclude_none=True),
        )
        for name, record in manifest.stacks.items()
    }


def class_balance(pairs: Iterable[dict], n_classes: int) -> dict[str, dict]:
    """Per split: stacks, pairs and the pixel-weighted foreground fraction of each class."""
    totals = {name: [0.0] * n_classes for name in SPLITS}
    pixels = dict.fromkeys(SPLITS, 0)
    counts = dict.fromkeys(SPLITS, 0)
    stacks: dict[str, set] = {name: set() for name in SPLITS}
    for pair in pairs:
        split, area = pair["split"], pair["height"] * pair["width"]
        counts[split] += 1
        pixels[split] += area
        stacks[split].add(pair["stack"])
        for k, fraction in enumerate(pair["class_fraction"]):
            totals[split][k] += fraction * area
    return {
        name: {
            "stacks": len(stacks[name]),
            "pairs": counts[name],
            "class_fraction": [
                round(total / pixels[name], 6) if pixels[name] else 0.0 for total in totals[name]
            ],
        }
        for name in SPLITS
    }


def build(
    settings: PrepareSettings,
    jobs: list[StackJob],
    results: list[StackResult],
    fingerprint: str,
    window: tuple[float, float] | None = None,
) -> Manifest:
    """The manifest of a run whose jobs all succeeded (checked by the contract's models)."""
    by_name = {job.name: job for job in jobs}
    pairs = sorted(
        (pair for result in results for pair in result.pairs),
        key=lambda p: (SPLITS.index(p["split"]), p["stack"], p["frame"]),
    )
    stacks = {}
    for result in results:
        job = by_name[result.name]
        used = sorted(set(job.splits), key=SPLITS.index)
        stacks[result.name] = {
            "split": used[0] if len(used) == 1 else "mixed",
            "frames": job.image.frames,
            "height": job.image.height,
            "width": job.image.width,
            "image": os.path.relpath(job.image.path, settings.raw),
            "mask": os.path.relpath(job.mask.path, settings.raw),
            "scaling": result.scaling,
            "source_hash": result.source_hash,
        }
    document = {
        "format": MANIFEST_FORMAT,
        "classes": list(settings.classes),
        "image_channels": jobs[0].image.channels,
        "mask_format": settings.mask_format,
        "split_by": settings.split_by,
        "split_fractions": settings.fractions,
        "seed": settings.seed,
        "scaling": scaling_rule(
            settings.scaling,
            settings.low_percentile,
            settings.high_percentile,
            window,
        ),
        "codecs": codec_description(settings.jpeg_quality),
        "fingerprint": fingerprint,
        "splits": class_balance(pairs, len(settings.classes)),
        "stacks": stacks,
        "pairs": pairs,
    }
    return Manifest.model_validate(document)
