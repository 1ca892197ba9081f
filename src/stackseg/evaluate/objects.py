"""Object-level evaluation of models of instance labels (`prepare.mask_format: labels`).

Per test frame: the thresholded prediction becomes instance labels (`stackseg.objects.
instances`, params `objects:`), which are matched with the pair's true ids (the 16-bit PNG
`Pair.ids`, `contracts.ids_file`) by `stackseg.objects.metrics.ObjectCounts`. The pooled
scores go under the `objects` key of metrics/evaluate.json, the F1-against-tau curve to
plots/evaluate/objects_f1.json, and the overlays get an objects panel: matched predicted
objects green, false ones red, missed true objects blue, every predicted object outlined
(darker edge pixels) so touching objects stay apart.

Channels and index data have no ids: no `objects` key, the same overlays, and an empty
objects_f1.json (dvc.yaml declares it; a declared plot file that is missing is a DVC error).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stackseg.config import Config, ObjectsConfig
from stackseg.contracts import Manifest, ModelCard
from stackseg.errors import InputDataError
from stackseg.evaluate.overlays import FN_COLOUR, FP_COLOUR, PANEL, TP_COLOUR
from stackseg.objects.instances import check_seeds, instances
from stackseg.objects.metrics import ObjectCounts, f1_rows, summarize
from stackseg.prepare.labels import boundaries

F1_FILE = "objects_f1.json"
PANEL_LABEL = "objects: TP FP FN"  # matched, false, missed: the colours of the header


def read_ids(path: Path) -> np.ndarray:
    """The true ids of a pair: (H, W) integers, 0 = background."""
    ids = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if ids is None:
        raise InputDataError(
            [f"{path}: missing or not a readable png of object ids; rerun `dvc repro -f prepare`"]
        )
    if ids.ndim != 2 or ids.dtype not in (np.uint8, np.uint16):
        raise InputDataError(
            [
                f"{path}: object ids must be a one-channel 8- or 16-bit png, got {ids.dtype} "
                f"{ids.shape}; rerun `dvc repro -f prepare`"
            ]
        )
    return ids.astype(np.int32)


def boundary_class(card: ModelCard, cfg: ObjectsConfig, card_path: str | Path) -> int | None:
    """The model's boundary channel; refuse boundary seeds for a model without one."""
    contract = card.output.instances
    found = contract.boundary_class if contract is not None else None
    check_seeds(cfg, found, card_path)
    return found


@dataclass
class ObjectScores:
    """What evaluate accumulates for objects: pooled counts and how to make instances."""

    cfg: ObjectsConfig
    boundary_class: int | None
    counts: ObjectCounts

    @classmethod
    def setup(cls, cfg: Config, manifest: Manifest, card: ModelCard) -> ObjectScores | None:
        """None unless the prepared data are instance labels."""
        if manifest.mask_format != "labels":
            return None
        found = boundary_class(card, cfg.objects, cfg.paths.model_card)
        return cls(cfg.objects, found, ObjectCounts(cfg.objects.match_iou))

    def add(self, truth_ids: np.ndarray, pred: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """Score one frame; returns its objects panel (H, W, 3) float for the overlays."""
        labels = instances(pred, self.cfg, probs, self.boundary_class)
        found = self.counts.add(truth_ids, labels)
        return objects_panel(truth_ids, labels, found["matched_true"], found["matched_pred"])

    def summary(self) -> dict:
        return summarize(self.counts)

    def f1_rows(self) -> list[dict]:
        return f1_rows(self.counts)


def objects_panel(
    truth: np.ndarray, pred: np.ndarray, matched_true: np.ndarray, matched_pred: np.ndarray
) -> np.ndarray:
    """Missed true objects blue, then predicted objects on top: matched green, false red;
    predicted objects outlined (their pixels next to another id or the background: prepare's
    own rule for the boundary class, `prepare.labels.boundaries`)."""
    out = np.broadcast_to(np.array(PANEL, np.float32), (*truth.shape, 3)).copy()
    out[(truth > 0) & ~np.isin(truth, matched_true)] = FN_COLOUR
    matched = np.isin(pred, matched_pred) & (pred > 0)
    out[(pred > 0) & ~matched] = FP_COLOUR
    out[matched] = TP_COLOUR
    # outlines half as bright as their object, so even a 2-pixel object keeps its colour
    out[boundaries(pred)] *= 0.5
    return out
