"""The "Drift" page's work, as plain functions over `stackseg.drift` (tested without
Streamlit).

1. `reference_path`: the model's drift reference: --reference, else `reference.json`
   beside a --model file (where `stackseg infer --stage` fetches it), else the
   workspace's (params `paths.drift_reference`, the `reference` stage's output).
2. The frames to check, as a drift Profile (the reference's bins): uploaded files
   (`uploads_profile`: drift's own reader, `stage.files_profile`: every frame of every
   image or stack, scaled to 8 bits as the model sees it), a folder of this machine
   (`folder_profile`), or the prepared test split (`split_profile`: the `drift` stage's
   data, which must show no drift).
3. `stackseg.drift.compare` gives the scores and the verdict; `feature_rows` puts one
   feature's reference and current values side by side for a histogram.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from stackseg.config import Config
from stackseg.dashboard.predictions import safe_name
from stackseg.dashboard.settings import Settings
from stackseg.drift import FEATURES, Profile, Reference, load_reference, profile_frames
from stackseg.errors import InputDataError

FEATURE_BINS = 20  # bars of a feature's histogram (reference vs current)


def reference_path(settings: Settings, cfg: Config) -> Path:
    if settings.reference is not None:
        return Path(settings.reference)
    name = Path(cfg.paths.drift_reference).name
    if settings.keras is not None and (Path(settings.keras).parent / name).is_file():
        return Path(settings.keras).parent / name
    return settings.path(cfg.paths.drift_reference)


def load(settings: Settings, cfg: Config) -> Reference:
    """The reference (InputDataError naming the file when it is missing or bad)."""
    return load_reference(reference_path(settings, cfg))


def folder_profile(settings: Settings, cfg: Config, folder: str, bins: int) -> Profile:
    """Every image and stack in `folder` (relative to the project, or absolute)."""
    from stackseg.drift.stage import files_profile

    path = Path(folder).expanduser()
    path = path if path.is_absolute() else settings.path(path)
    if not path.is_dir():
        raise InputDataError(f"{path}: not a folder")
    return _checked(files_profile(cfg, [str(path)], bins), str(path))


def uploads_profile(cfg: Config, files: list[tuple[str, bytes]], bins: int) -> Profile:
    """Uploaded files (name, content), written under their own (cleaned) names to a
    private temporary folder, profiled, removed; errors name the files as uploaded."""
    from stackseg.drift.stage import files_profile

    if not files:
        raise InputDataError("no file uploaded")
    folder = Path(tempfile.mkdtemp(prefix="stackseg-dashboard-drift-"))
    try:
        paths = []
        for name, data in files:
            path = folder / safe_name(name)
            if not data:
                raise InputDataError(f"{path.name}: the file is empty")
            path.write_bytes(data)
            paths.append(str(path))
        return _checked(files_profile(cfg, paths, bins), "the uploads")
    except InputDataError as exc:
        prefix = f"{folder}/"
        raise InputDataError([line.replace(prefix, "") for line in exc.problems]) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def split_profile(settings: Settings, cfg: Config, bins: int) -> Profile:
    """The prepared test split's frames (groups: their stacks)."""
    from stackseg.contracts import read_manifest
    from stackseg.evaluate.io import read_image

    prepared = settings.path(cfg.paths.prepared)
    manifest = read_manifest(prepared, cfg.classes)
    pairs = manifest.split_pairs("test")
    if not pairs:
        raise InputDataError(f"{prepared}: the test split is empty")
    frames = (read_image(prepared / pair.image, manifest.image_channels) for pair in pairs)
    return profile_frames(frames, bins, [pair.stack for pair in pairs])


def _checked(profile: Profile, what: str) -> Profile:
    if profile.frames == 0:
        raise InputDataError(f"{what}: no frames to check")
    return profile


def feature_rows(reference: Reference, current: Profile, feature: str) -> list[dict[str, Any]]:
    """One feature's distribution in the reference and now: per bin (common edges over
    both), the share of each set's frames in it."""
    ref = np.asarray(reference.images.features[feature], dtype=np.float64)
    now = np.asarray(current.features[feature], dtype=np.float64)
    low, high = float(min(ref.min(), now.min())), float(max(ref.max(), now.max()))
    edges = np.linspace(low, high if high > low else low + 1.0, FEATURE_BINS + 1)
    ref_counts = np.histogram(ref, edges)[0] / max(1, ref.size)
    now_counts = np.histogram(now, edges)[0] / max(1, now.size)
    return [
        {"value": round(float(edges[k]), 4), "reference": float(r), "current": float(c)}
        for k, (r, c) in enumerate(zip(ref_counts, now_counts, strict=True))
    ]


def features() -> tuple[str, ...]:
    return FEATURES
