"""From a thresholded prediction to an instance-label image (params `objects:`).

The foreground is class 0 (every object pixel). Three ways to cut it into objects:

- `components`: connected components of the foreground (8-connected); touching objects
  stay one object.
- `watershed` with `seeds: distance`: the Euclidean distance transform of the foreground,
  one seed per local maximum (`peak_local_max`, seeds at least `min_distance` pixels
  apart), flooded by a watershed on the negated distance inside the foreground. Two
  touching discs have two distance peaks joined by a neck, so they come out apart.
- `watershed` with `seeds: boundary` (models trained with `prepare.labels_boundary`):
  seeds are the connected components of foreground AND NOT boundary (class 1); they grow
  back over the boundary pixels by a watershed on the boundary probability (the thresholded
  boundary mask when no probabilities are given), so boundaries go to the nearest side.

Every foreground component that received no seed (possible only for tiny or flat objects)
keeps its pixels as one object of its own: post-processing never drops foreground except
by `min_size`. Objects smaller than `min_size` pixels are removed, and the ids are
renumbered 1..N in raster order of each object's first pixel, so the same input gives the
same image on every run and machine.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.measure import label
from skimage.morphology import remove_small_objects
from skimage.segmentation import watershed

from stackseg.config import ObjectsConfig
from stackseg.errors import ConfigError

LABEL_DTYPE = np.int32


def check_seeds(cfg: ObjectsConfig, boundary_class: int | None, card_path: object) -> None:
    """Boundary seeds need a model with a boundary class (its card's
    `output.instances.boundary_class`): one line naming the card otherwise."""
    if cfg.method == "watershed" and cfg.seeds == "boundary" and boundary_class is None:
        raise ConfigError(
            f"objects.seeds: boundary needs a model trained with prepare.labels_boundary: true, "
            f"{card_path} has no boundary class; set objects.seeds: distance or retrain"
        )


def components(foreground: np.ndarray) -> np.ndarray:
    """8-connected components of a boolean (H, W) image, ids 1..N."""
    return label(foreground, connectivity=2).astype(LABEL_DTYPE)


def distance_seeds(foreground: np.ndarray, min_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """(seed labels, distance transform): one seed per distance peak of each component.

    A flat maximum (a ridge of equal distance, as in a bar or a rectangle) yields several
    peaks `min_distance` apart; peaks on one connected plateau of equal distance are one
    seed, so a rectangle is not cut into pieces.
    """
    distance = ndimage.distance_transform_edt(foreground)
    peaks = peak_local_max(
        distance, min_distance=min_distance, labels=components(foreground), exclude_border=False
    )
    # squared Euclidean distances are integers: exact plateaus of equal distance
    plateaus = label(np.rint(distance**2).astype(np.int64), background=0, connectivity=2)
    seeds = np.zeros(foreground.shape, LABEL_DTYPE)
    seeds[tuple(peaks.T)] = plateaus[tuple(peaks.T)]
    return seeds, distance


def boundary_seeds(foreground: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Seed labels: connected components of foreground AND NOT boundary (4-connected, so
    a one-pixel diagonal boundary still separates)."""
    return label(foreground & ~boundary, connectivity=1).astype(LABEL_DTYPE)


def _unseeded(labels: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Foreground the watershed left unlabelled (components without a seed) as new ids."""
    left = foreground & (labels == 0)
    if left.any():
        extra = components(left)
        labels = np.where(extra > 0, extra + labels.max(), labels)
    return labels


def renumber(labels: np.ndarray) -> np.ndarray:
    """Ids 1..N in raster order of each object's first pixel (0 stays background)."""
    ids, first = np.unique(labels.ravel(), return_index=True)
    keep = ids != 0
    ids, first = ids[keep], first[keep]
    order = ids[np.argsort(first, kind="stable")]
    lookup = np.zeros(int(labels.max()) + 1 if labels.size else 1, LABEL_DTYPE)
    lookup[order] = np.arange(1, len(order) + 1, dtype=LABEL_DTYPE)
    return lookup[labels]


def instances(
    masks: np.ndarray,
    cfg: ObjectsConfig,
    probs: np.ndarray | None = None,
    boundary_class: int | None = None,
) -> np.ndarray:
    """Instance labels (H, W) int32 of one frame from its boolean masks (H, W, K).

    `probs` (H, W, K) is used only by boundary seeds (the flooding landscape).
    `boundary_class` is the model's boundary channel (the card's
    `output.instances.boundary_class`); boundary seeds need it.
    """
    foreground = np.asarray(masks[..., 0], dtype=bool)
    if cfg.method == "components":
        labels = components(foreground)
    elif cfg.seeds == "distance":
        seeds, distance = distance_seeds(foreground, cfg.min_distance)
        labels = watershed(-distance, seeds, mask=foreground).astype(LABEL_DTYPE)
    else:
        if boundary_class is None or boundary_class >= masks.shape[-1]:
            raise ValueError(
                "objects.seeds boundary needs a model with a boundary class "
                "(prepare.labels_boundary: true); use seeds: distance"
            )
        boundary = np.asarray(masks[..., boundary_class], dtype=bool)
        if probs is not None:
            landscape = probs[..., boundary_class].astype(np.float64)
        else:
            landscape = boundary.astype(np.float64)
        seeds = boundary_seeds(foreground, boundary)
        labels = watershed(landscape, seeds, mask=foreground).astype(LABEL_DTYPE)
    labels = _unseeded(labels, foreground)
    if cfg.min_size > 1:
        # remove_small_objects drops objects of at most max_size pixels
        labels = remove_small_objects(labels, max_size=cfg.min_size - 1)
    return renumber(labels)
