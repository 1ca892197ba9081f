"""Object scores of evaluate on a hand-made instance-label split (mask_format labels)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from stackseg.config import config_from_dict
from stackseg.contracts import InstancesContract, ids_file, read_manifest, write_manifest
from stackseg.errors import ConfigError
from stackseg.evaluate import objects, outputs, overlays, stage
from tests.conftest import tiny_params
from tests.evaluate.standin import MULTIPLE, scale
from tests.fixtures import make_card, make_manifest, make_pair

CLASSES = ["nucleus"]
HEIGHT, WIDTH = 32, 48


def disc(centre, radius) -> np.ndarray:
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def frame() -> tuple[np.ndarray, np.ndarray]:
    """(image, true ids): discs A and B (radius 6, centres 11 px apart: they overlap) are
    bright; disc C is a true object the image does not show (missed); square D is bright
    but no object (false)."""
    a, b, c = disc((12, 12), 6), disc((12, 23), 6), disc((24, 40), 4)
    ids = np.zeros((HEIGHT, WIDTH), np.uint16)
    ids[a] = 1
    ids[b & (np.arange(WIDTH) >= 18)[None, :]] = 2
    ids[b & ~a] = 2
    ids[c] = 3
    image = np.zeros((HEIGHT, WIDTH), np.uint8)
    image[a | b] = 255
    image[24:30, 4:10] = 255
    return image, ids


def write_labels_split(root: Path) -> None:
    image, ids = frame()
    pairs = []
    for split, stack in (("train", "t"), ("test", "a"), ("test", "b")):
        pair = make_pair(stack, 0, split, HEIGHT, WIDTH, [float((ids > 0).mean())])
        pair = pair.model_copy(update={"ids": ids_file(split, pair.name)})
        for rel in (pair.image, pair.mask, pair.ids):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / pair.image), image)
        Image.fromarray(np.where(ids > 0, 255, 0).astype(np.uint8), "L").save(root / pair.mask)
        cv2.imwrite(str(root / pair.ids), ids)
        pairs.append(pair)
    manifest = make_manifest(CLASSES, 1, pairs).model_copy(update={"mask_format": "labels"})
    write_manifest(manifest, root)


class Intensity:
    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        return batch[..., :1]


def labels_card(boundary: int | None = None):
    card = make_card(CLASSES)
    contract = InstancesContract(boundary_class=boundary, source="test")
    return card.model_copy(
        update={"output": card.output.model_copy(update={"instances": contract})}
    )


def config(tmp_path: Path, **objects_over):
    write_labels_split(tmp_path / "prepared")
    params = tiny_params(
        classes=CLASSES,
        prepare={"mask_format": "labels"},
        objects={"method": "watershed", "seeds": "distance", "min_distance": 3, "min_size": 8}
        | objects_over,
        paths={
            "prepared": str(tmp_path / "prepared"),
            "evaluate_metrics": str(tmp_path / "metrics" / "evaluate.json"),
            "evaluate_plots": str(tmp_path / "plots" / "evaluate"),
        },
        evaluate={"overlays": 1, "batch_size": 2},
    )
    return config_from_dict(params)


def evaluate(cfg, card) -> dict:
    manifest = read_manifest(cfg.paths.prepared, cfg.classes)
    results = stage.score_test(cfg, manifest, Intensity(), scale, MULTIPLE, 0.5, card)
    return outputs.write_outputs(
        results, Path(cfg.paths.evaluate_metrics), Path(cfg.paths.evaluate_plots)
    )


def test_watershed_objects_scored_and_written(tmp_path):
    cfg = config(tmp_path)
    document = evaluate(cfg, labels_card())
    assert json.loads(Path(cfg.paths.evaluate_metrics).read_text()) == document
    found = document["objects"]
    # per test frame: A and B matched, C missed, D false; two test frames pooled
    assert found["counts"] == {
        "frames": 2,
        "true": 6,
        "predicted": 6,
        "matched": 4,
        "missed": 2,
        "false": 2,
    }
    assert found["precision"] == found["recall"] == found["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert 0.8 < found["mean_matched_iou"] <= 1.0
    assert found["pq"] == pytest.approx(found["mean_matched_iou"] * 2 / 3, abs=1e-5)
    assert (found["splits"], found["merges"]) == (0, 0)
    plots = Path(cfg.paths.evaluate_plots)
    rows = json.loads((plots / objects.F1_FILE).read_text())
    assert [row["tau"] for row in rows][:2] == [0.1, 0.15] and rows[0]["f1"] == found["f1"]
    assert rows[-1]["tau"] == 0.95
    f1 = [row["f1"] for row in rows]
    assert f1 == sorted(f1, reverse=True)  # a stricter tau never matches more
    # the overlay has the objects panel after the class panels
    with Image.open(plots / "overlays" / overlays.overlay_name("best", 1, 1)) as png:
        assert png.size == overlays.Layout.for_frame(HEIGHT, WIDTH, 1, extra=1).size
        layout = overlays.Layout.for_frame(HEIGHT, WIDTH, 1, extra=1)
        x0, y0 = layout.origin(4)
        scale_ = layout.panel_height / HEIGHT
        pixel = png.convert("RGB").getpixel
        assert pixel((x0 + int(12 * scale_), y0 + int(12 * scale_))) == overlays.TP_COLOUR
        assert pixel((x0 + int(40 * scale_), y0 + int(24 * scale_))) == overlays.FN_COLOUR
        assert pixel((x0 + int(6.5 * scale_), y0 + int(26.5 * scale_))) == overlays.FP_COLOUR


def test_components_merge_the_touching_discs(tmp_path):
    found = evaluate(config(tmp_path, method="components"), labels_card())["objects"]
    assert found["counts"]["predicted"] == 4 and found["merges"] == 2
    assert found["f1"] < 2 / 3


def test_boundary_seeds_need_a_card_with_a_boundary_class(tmp_path):
    # params can ask for boundary seeds (with labels_boundary) while the model at hand was
    # trained without a boundary class: the card decides
    cfg = config(tmp_path).objects.model_copy(update={"seeds": "boundary"})
    with pytest.raises(ConfigError, match="model.json has no boundary class"):
        objects.boundary_class(labels_card(boundary=None), cfg, "models/model.json")
    assert objects.boundary_class(labels_card(boundary=1), cfg, "models/model.json") == 1


def test_missing_ids_file_is_one_clear_line(tmp_path):
    cfg = config(tmp_path)
    for path in (Path(cfg.paths.prepared) / "test" / "objects").iterdir():
        path.unlink()
    with pytest.raises(Exception, match="object ids; rerun `dvc repro -f prepare`"):
        evaluate(cfg, labels_card())


def test_perfect_masks_of_real_prepare_output_give_back_the_true_objects(tmp_path, capsys):
    """prepare on `synth --labels` data (touching nuclei), then the true masks themselves
    as the prediction: boundary seeds recover every object, components merge the touching."""
    from stackseg.config import ObjectsConfig
    from stackseg.evaluate import io
    from stackseg.synth import generate
    from tests.prepare.stacks import run_prepare, write_params
    from tests.prepare.test_stage_labels import CLASSES as LABEL_CLASSES
    from tests.prepare.test_stage_labels import LABELS

    generate(LABELS, tmp_path / "data" / "raw")
    write_params(tmp_path, classes=LABEL_CLASSES, mask_format="labels", labels_boundary=True)
    code, err = run_prepare(tmp_path, capsys)
    assert code == 0, err
    prepared = tmp_path / "data" / "prepared"
    manifest = read_manifest(prepared, LABEL_CLASSES)
    found = {}
    for method, seeds in (("watershed", "boundary"), ("components", "distance")):
        cfg = ObjectsConfig(method=method, seeds=seeds, min_distance=3, min_size=1, match_iou=0.5)
        scores = objects.ObjectScores(cfg, 1, objects.ObjectCounts(0.5))
        for pair, _, mask in io.iter_pairs(prepared, manifest.pairs, 1, 2):
            scores.add(stage.true_ids(prepared, pair), mask, mask.astype(np.float32))
        found[method] = scores.summary()
    exact = found["watershed"]
    assert exact["counts"]["true"] > 0
    assert exact["f1"] == 1.0
    # where two objects touch, both sides' edge pixels are boundary: the flat boundary
    # landscape of a perfect prediction splits them between the two seeds about evenly
    assert exact["mean_matched_iou"] > 0.99 and exact["ap_dsb"] > 0.99
    assert exact["splits"] == exact["merges"] == 0
    merged = found["components"]
    assert merged["merges"] > 0 and merged["counts"]["predicted"] < merged["counts"]["true"]
