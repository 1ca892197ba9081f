"""The raw stacks: finding and pairing the files, their content hashes, and the structural
checks that run before any pixel work.

Raw layout: <raw>/images/<name>.tif|.tiff and <raw>/masks/<name>.tif|.tiff. Hidden files
(e.g. macOS `._name.tif`) are skipped; other files are ignored with a warning. Every
problem becomes one line naming the file(s); all of them are reported together.

Content hashes tell which stacks changed since the previous run. XXH3-128 is a change
detector, not a security check: it runs at memory speed, where sha256 cost as much CPU as
decoding the mask frames.
"""

from __future__ import annotations

import logging
import re
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import xxhash

from stackseg.contracts import IMAGE_SUFFIX, MASK_SUFFIX, pair_stem
from stackseg.prepare.layout import Inspection, StackLayout

log = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
IMAGE_CHANNELS = (1, 3)
# content hash of the raw files, recorded as each stack's source_hash
HASH_ALGORITHM = "xxh3-128"
HASH_CHUNK = 1 << 20
# the longest file name (bytes) most file systems take: a longer pair name fails with
# ENAMETOOLONG in the middle of the pixel pass, so it is a problem found up front
NAME_MAX = 255


@dataclass(frozen=True)
class RawStack:
    name: str  # file-safe stack name used in the prepared file names
    image: str
    mask: str


def safe_name(stem: str) -> str:
    """A portable file name: ASCII letters, digits, '.', '_' and '-' (runs of others -> '_').

    A leading '.' or '-' is dropped so names never become hidden files or look like options.
    """
    return _UNSAFE.sub("_", stem).lstrip(".-")


def _name_problems(stack: RawStack, frames: int) -> list[str]:
    """A stack whose pair file names would be longer than NAME_MAX."""
    longest = max(len(suffix.encode()) for suffix in (IMAGE_SUFFIX, MASK_SUFFIX))
    length = len(pair_stem(stack.name, max(frames - 1, 0), frames).encode()) + longest
    if length <= NAME_MAX:
        return []
    allowed = len(stack.name) - (length - NAME_MAX)
    return [
        f"{stack.image}: the stack name is {len(stack.name)} characters, too long for its pair "
        f"files ({length} > {NAME_MAX} bytes); rename the stack to at most {allowed} characters"
    ]


def _tiff_files(folder: Path, problems: list[str]) -> dict[str, Path]:
    """stem -> file for the TIFF files of one folder; duplicate stems are problems."""
    by_stem: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            log.debug("skipping hidden file %s", path)
        elif path.is_dir():
            log.warning("ignoring folder %s (stacks are files directly in %s)", path, folder)
        elif path.suffix.lower() not in TIFF_SUFFIXES:
            log.warning("ignoring %s (not a .tif/.tiff file)", path)
        else:
            by_stem.setdefault(path.stem, []).append(path)
    for stem, paths in by_stem.items():
        if len(paths) > 1:
            names = " and ".join(str(p) for p in paths)
            problems.append(f"{names}: two files with the same stack name '{stem}'; keep one")
    return {stem: paths[0] for stem, paths in by_stem.items()}


def _is_folder(path: Path) -> bool:
    """Whether `path` is a folder; an OSError other than "not there" (e.g. a parent it may
    not search) goes to the command's edge, rather than passing for a missing folder."""
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def discover(raw: Path) -> tuple[list[RawStack], list[str]]:
    """Pair image and mask stacks by stem; returns (stacks, problems)."""
    images_dir, masks_dir = raw / "images", raw / "masks"
    problems: list[str] = []
    for folder in (images_dir, masks_dir):
        if not _is_folder(folder):
            problems.append(
                f"{folder}: folder not found (put image stacks in {images_dir}/<name>.tif "
                f"and their masks in {masks_dir}/<name>.tif)"
            )
    if problems:
        return [], problems
    images = _tiff_files(images_dir, problems)
    masks = _tiff_files(masks_dir, problems)
    for stem in sorted(images.keys() - masks.keys()):
        problems.append(
            f"{images[stem]}: no mask stack {masks_dir}/{stem}.tif for this image stack"
        )
    for stem in sorted(masks.keys() - images.keys()):
        problems.append(
            f"{masks[stem]}: no image stack {images_dir}/{stem}.tif for this mask stack"
        )
    stacks: list[RawStack] = []
    by_name: dict[str, list[str]] = {}
    for stem in sorted(images.keys() & masks.keys()):
        name = safe_name(stem)
        if not name:
            problems.append(f"{images[stem]}: the name has no usable characters; rename the stack")
            continue
        # compared case-insensitively: the pairs must not collide on macOS/Windows either
        by_name.setdefault(name.lower(), []).append(stem)
        stacks.append(RawStack(name, str(images[stem]), str(masks[stem])))
    for stems in by_name.values():
        if len(stems) > 1:
            files = " and ".join(str(images[stem]) for stem in stems)
            problems.append(
                f"{files}: stack names collide once made file-safe "
                f"(both become '{safe_name(stems[0])}'); rename one"
            )
    if not stacks and not problems:
        problems.append(f"{images_dir}: no .tif/.tiff image stacks found")
    return stacks, problems


def check_stacks(
    stacks: list[RawStack], inspections: dict[str, Inspection], mask_format: str, n_classes: int
) -> list[str]:
    """Structural problems of each file and of each image/mask pair (metadata only)."""
    problems: list[str] = []
    for stack in stacks:
        for path in (stack.image, stack.mask):
            if inspections[path].problem:
                problems.append(f"{path}: {inspections[path].problem}")
        image, mask = inspections[stack.image].layout, inspections[stack.mask].layout
        if image is not None:
            problems += _image_problems(image)
        if mask is not None:
            problems += _mask_problems(mask, mask_format, n_classes)
        if image is not None and mask is not None:
            problems += _pair_problems(image, mask)
        if image is not None:
            problems += _name_problems(stack, image.frames)
    problems += _channel_consistency(
        [layout for s in stacks if (layout := inspections[s.image].layout) is not None]
    )
    return problems


def _kind(dtype: str) -> str:
    """numpy's dtype.kind from the name (this module stays free of numpy)."""
    for prefix, kind in (("uint", "u"), ("int", "i"), ("float", "f"), ("bool", "b")):
        if dtype.startswith(prefix):
            return kind
    return "?"


def _image_problems(image: StackLayout) -> list[str]:
    problems = []
    if image.channels not in IMAGE_CHANNELS:
        problems.append(
            f"{image.path}: {image.channels} channels; image stacks must be grayscale "
            "(1 channel) or RGB (3 channels)"
        )
    if _kind(image.dtype) not in "uif":
        problems.append(
            f"{image.path}: unsupported pixel type {image.dtype} (expected uint8, uint16 or float)"
        )
    return problems


def _mask_problems(mask: StackLayout, mask_format: str, n_classes: int) -> list[str]:
    problems = []
    if mask_format == "channels" and mask.channels != n_classes:
        problems.append(
            f"{mask.path}: {mask.channels} channel(s) but params list {n_classes} classes "
            "(prepare.mask_format=channels: one binary channel per class)"
        )
    if mask_format == "index" and mask.channels != 1:
        problems.append(
            f"{mask.path}: {mask.channels} channels; prepare.mask_format=index needs "
            "single-channel class-index masks (use mask_format: channels for one channel per class)"
        )
    if mask_format == "labels":
        return problems + _label_problems(mask)
    allowed = "uib" if mask_format == "index" else "uifb"
    if _kind(mask.dtype) not in allowed:
        what = "integer class indices" if mask_format == "index" else "binary values"
        problems.append(f"{mask.path}: pixel type {mask.dtype} cannot hold {what}")
    return problems


def _label_problems(mask: StackLayout) -> list[str]:
    """Instance-label stacks: one integer image per frame (values are checked per frame)."""
    problems = []
    if mask.channels != 1:
        problems.append(
            f"{mask.path}: a label image with {mask.channels} channels; "
            "prepare.mask_format=labels needs one (H, W) image of instance ids per frame"
        )
    if _kind(mask.dtype) not in "ui":
        problems.append(
            f"{mask.path}: pixel type {mask.dtype} cannot hold instance ids (integers: 0 = "
            "background, 1..N = objects); save the masks as uint16 or uint32"
        )
    return problems


def _pair_problems(image: StackLayout, mask: StackLayout) -> list[str]:
    problems = []
    if image.frames != mask.frames:
        problems.append(
            f"{image.path} has {image.frames} frames but {mask.path} has {mask.frames}; "
            "image and mask stacks need the same number of frames"
        )
    if (image.height, image.width) != (mask.height, mask.width):
        hint = ""
        if mask.width <= 4:
            hint = (
                " (the mask looks like channel-last data saved as grayscale pages: save it "
                "with photometric='rgb' or channel-first)"
            )
        problems.append(
            f"{image.path} frames are {image.size_text} (HxW) but {mask.path} frames are "
            f"{mask.size_text}; image and mask frames need the same size{hint}"
        )
    return problems


def _channel_consistency(images: list[StackLayout]) -> list[str]:
    """All image stacks need the same channel count (the manifest has one image_channels)."""
    counts = Counter(image.channels for image in images if image.channels in IMAGE_CHANNELS)
    if len(counts) < 2:
        return []
    common = max(sorted(counts), key=lambda channels: counts[channels])
    return [
        f"{image.path}: {image.channels} channels but {counts[common]} other image stacks have "
        f"{common}; all image stacks need the same number of channels"
        for image in images
        if image.channels in IMAGE_CHANNELS and image.channels != common
    ]


def file_hash(path: str) -> str:
    """Hex XXH3-128 of the file's bytes (chunks go through one reused buffer)."""
    digest = xxhash.xxh3_128()
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


def source_hash(image_hash: str, mask_hash: str) -> str:
    """What identifies a stack's content: the hashes of its image and mask files."""
    return f"{HASH_ALGORITHM}:{image_hash}:{mask_hash}"
