"""stackseg.contracts: the manifest and the model card round-trip, and other shapes are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stackseg import contracts as c
from stackseg.errors import InputDataError

CLASSES = ["disc", "ring"]


def manifest(pairs: int = 2) -> c.Manifest:
    scaling = c.StackScaling(source_dtype="uint8", method="none")
    stack = c.StackRecord(
        split="train",
        frames=pairs,
        height=8,
        width=8,
        image="images/s.tif",
        mask="masks/s.tif",
        scaling=scaling,
        source_hash="xxh3-128:0:0",
    )
    return c.Manifest(
        format=c.MANIFEST_FORMAT,
        classes=CLASSES,
        image_channels=1,
        mask_format="channels",
        split_by="stack",
        split_fractions={"train": 1.0, "val": 0.0, "test": 0.0},
        seed=1,
        scaling=c.ScalingRule(**c.SCALING_RULE, low_percentile=0.1, high_percentile=99.9),
        codecs={},
        fingerprint="sha256:0",
        splits={s: c.SplitBalance(stacks=0, pairs=0, class_fraction=[0.0, 0.0]) for s in c.SPLITS},
        stacks={"s": stack},
        pairs=[
            c.Pair(
                stack="s",
                frame=k,
                split="train",
                image=f"train/images/s_f{k:04d}.jpg",
                mask=f"train/masks/s_f{k:04d}.png",
                height=8,
                width=8,
                class_fraction=[0.5, 0.0],
            )
            for k in range(pairs)
        ],
    )


def test_manifest_round_trip(tmp_path):
    written = manifest()
    c.write_manifest(written, tmp_path)
    read = c.read_manifest(tmp_path, CLASSES)
    assert read == written
    assert (tmp_path / c.MANIFEST_NAME).read_text() == written.dumps()
    assert [p.name for p in read.split_pairs("train")] == ["s_f0000", "s_f0001"]
    assert read.split_pairs("test") == []


def test_manifest_one_line_per_pair(tmp_path):
    text = manifest(pairs=3).dumps()
    pair_lines = [line for line in text.splitlines() if line.strip().startswith('{"stack"')]
    assert len(pair_lines) == 3


def _rewrite(tmp_path, change) -> None:
    path = tmp_path / c.MANIFEST_NAME
    data = json.loads(manifest().dumps())
    change(data)
    path.write_text(json.dumps(data))


def test_other_format_version_refused_in_one_line(tmp_path):
    _rewrite(tmp_path, lambda d: d.update(format=2))
    with pytest.raises(InputDataError) as err:
        c.read_manifest(tmp_path)
    assert len(err.value.problems) == 1
    assert str(tmp_path / c.MANIFEST_NAME) in err.value.problems[0]
    assert "format 2" in err.value.problems[0]


def test_missing_field_named(tmp_path):
    _rewrite(tmp_path, lambda d: d["pairs"][1].pop("height"))
    with pytest.raises(InputDataError) as err:
        c.read_manifest(tmp_path)
    assert "pairs.1.height" in err.value.problems[0]


def test_classes_must_match_params(tmp_path):
    c.write_manifest(manifest(), tmp_path)
    with pytest.raises(InputDataError, match="params say"):
        c.read_manifest(tmp_path, ["disc", "streak"])


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(InputDataError, match="not found"):
        c.read_manifest(tmp_path)
    (tmp_path / c.MANIFEST_NAME).write_text("{")
    with pytest.raises(InputDataError, match="not valid JSON"):
        c.read_manifest(tmp_path)


def card() -> c.ModelCard:
    return c.ModelCard(
        format=c.CARD_FORMAT,
        model_file="model.keras",
        classes=CLASSES,
        input=c.InputContract(
            channels=1,
            dtype="float32",
            scaling="x/255",
            jpeg_decoding="islow",
            value_range=[0.0, 1.0],
            size_multiple=8,
            size_rule="pad",
            train_size=48,
            train_crop="random",
        ),
        output=c.OutputContract(
            channels=2,
            activation="sigmoid",
            meaning="p",
            thresholds=[0.5, 0.5],
            threshold_rule="fixed",
        ),
        prepared_scaling=c.ScalingRule(**c.SCALING_RULE, low_percentile=0.1, high_percentile=99.9),
        lineage=c.Lineage(
            code_commit=None,
            code_sha256="a",
            raw_data_sha256="b",
            prepared_data_sha256="c",
            pairs={"train": 2},
            software={"keras": "3"},
        ),
        params={"seed": 1},
        training=c.TrainingSummary(
            epochs_run=1, stopped_early=False, best_epoch=1, best_val={"iou": 0.5}, monitor="iou"
        ),
    )


def test_card_round_trip_and_refusals(tmp_path):
    path = tmp_path / "model.json"
    c.write_card(card(), path)
    assert c.read_card(path, CLASSES) == card()
    with pytest.raises(InputDataError, match="model trained for classes"):
        c.read_card(path, ["x"])
    data = json.loads(path.read_text())
    data["format"] = "stackseg-model-card/0"
    path.write_text(json.dumps(data))
    with pytest.raises(InputDataError) as err:
        c.read_card(path)
    assert len(err.value.problems) == 1 and "stackseg-model-card/0" in err.value.problems[0]


@pytest.mark.parametrize(("n", "channels"), [(1, 1), (2, 3), (3, 3), (4, 4)])
def test_mask_png_channels(n, channels):
    assert c.mask_png_channels(n) == channels


def test_mask_png_channels_refuses_five():
    with pytest.raises(ValueError):
        c.mask_png_channels(5)


def test_pair_stems_have_at_least_four_digits_and_sort_in_frame_order():
    assert c.pair_stem("s", 7, 10) == "s_f0007"
    assert c.pair_stem("s", 9999, 10000) == "s_f9999"
    assert c.pair_stem("s", 42, 12345) == "s_f00042"
    stems = [c.pair_stem("s", k, 12345) for k in (9, 10, 99, 100, 12344)]
    assert stems == sorted(stems)
    assert c.pair_files("val", "s_f0001") == ("val/images/s_f0001.jpg", "val/masks/s_f0001.png")


def test_pair_ids_round_trip_and_absent_for_other_formats(tmp_path):
    written = manifest()
    assert written.pairs[0].ids is None
    assert '"ids"' not in written.dumps()  # other formats: the manifest bytes are unchanged
    labelled = written.model_copy(
        update={
            "mask_format": "labels",
            "pairs": [
                pair.model_copy(update={"ids": c.ids_file("train", pair.name)})
                for pair in written.pairs
            ],
        }
    )
    c.write_manifest(labelled, tmp_path)
    read = c.read_manifest(tmp_path, CLASSES)
    assert [p.ids for p in read.pairs] == ["train/objects/s_f0000.png", "train/objects/s_f0001.png"]
    assert read == labelled


def test_card_instances_round_trip(tmp_path):
    path = tmp_path / "model.json"
    instances = c.InstancesContract(boundary_class=1, source="instance labels")
    written = card().model_copy(
        update={"output": card().output.model_copy(update={"instances": instances})}
    )
    c.write_card(written, path)
    assert json.loads(path.read_text())["output"]["instances"] == {
        "boundary_class": 1,
        "source": "instance labels",
    }
    read = c.read_card(path, CLASSES)
    assert read == written and read.output.instances == instances


def test_old_card_without_instances_still_reads(tmp_path):
    path = tmp_path / "model.json"
    c.write_card(card(), path)
    # written without the key (as before the field existed), null boundary kept when set
    assert "instances" not in json.loads(path.read_text())["output"]
    assert c.read_card(path, CLASSES).output.instances is None
    data = json.loads(path.read_text())
    data["output"]["instances"] = {"boundary_class": None, "source": "x"}
    path.write_text(json.dumps(data))
    assert c.read_card(path).output.instances == c.InstancesContract(
        boundary_class=None, source="x"
    )


@pytest.mark.parametrize(
    ("classes", "mask_format", "expected"),
    [(["nucleus"], "labels", None), (["nucleus", "boundary"], "labels", 1)],
)
def test_instances_contract_from_the_manifest(classes, mask_format, expected):
    made = manifest().model_copy(update={"classes": classes, "mask_format": mask_format})
    instances = c.instances_contract(made)
    assert instances is not None and instances.boundary_class == expected
    assert "mask_format labels" in instances.source
    assert c.instances_contract(manifest()) is None  # channels


def test_ids_file_beside_pair_files():
    image, mask = c.pair_files("test", "s_f0003")
    assert c.ids_file("test", "s_f0003") == "test/objects/s_f0003.png"
    assert image.split("/")[0] == mask.split("/")[0] == "test"


def test_card_per_class_thresholds_round_trip(tmp_path):
    path = tmp_path / "model.json"
    choice = c.ThresholdChoice(
        metric="f1",
        split="val",
        grid="0.05..0.95 step 0.01",
        scores=[0.9, 0.7],
        scores_at_default=[0.85, 0.6],
        pixels=[100, 20],
    )
    output = card().output.model_copy(
        update={
            "thresholds": [0.62, 0.31],
            "threshold_rule": "auto on val (f1)",
            "threshold_choice": choice,
        }
    )
    written = card().model_copy(update={"output": output})
    c.write_card(written, path)
    read = c.read_card(path, CLASSES)
    assert read == written
    assert read.output.threshold_array().dtype == np.float32
    assert read.output.threshold_array().tolist() == pytest.approx([0.62, 0.31])
    # a fixed threshold writes no choice
    c.write_card(card(), path)
    assert "threshold_choice" not in path.read_text()


def test_old_card_with_one_threshold_reads_as_that_value_per_class(tmp_path):
    path = tmp_path / "model.json"
    data = json.loads(card().dumps())
    del data["output"]["thresholds"], data["output"]["threshold_rule"]
    data["output"]["threshold"] = 0.4
    path.write_text(json.dumps(data))
    read = c.read_card(path, CLASSES)
    assert read.output.thresholds == [0.4, 0.4] and read.output.threshold_rule == "fixed"


def test_thresholds_must_be_one_per_class_in_one_line(tmp_path):
    path = tmp_path / "model.json"
    data = json.loads(card().dumps())
    data["output"]["thresholds"] = [0.5]
    path.write_text(json.dumps(data))
    with pytest.raises(InputDataError) as err:
        c.read_card(path)
    assert len(err.value.problems) == 1
    assert "1 thresholds for 2 output channels" in err.value.problems[0]


def test_scaling_rule_records_training_and_fixed_windows():
    rule = c.scaling_rule("training", 0.1, 99.9, [100, 3000])
    assert (rule.rule, rule.window) == ("training", [100.0, 3000.0])
    assert rule.window_for("uint16") == (100.0, 3000.0)
    assert rule.window_for("uint8") is None  # 8-bit images are kept as they are
    assert c.scaling_rule("stack", 0.1, 99.9, None).window_for("uint16") is None
    with pytest.raises(ValueError):
        c.scaling_rule("fixed", 0.1, 99.9, None)
