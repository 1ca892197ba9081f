"""A real prepare-written manifest and train-written model card, read by every reader.

The readers: `stackseg.contracts.read_manifest` / `read_card` (the one contract), the train
stage's `read_prepared` and the evaluate stage's `read_manifest` / `read_card` /
`load_trained`. They must all accept what the pipeline wrote and agree on what it says; the
contract's readers must refuse a file of another format version, or one missing a field,
with one line naming the file (and the field).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackseg.contracts import (
    CARD_FORMAT,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    SPLITS,
    read_card,
    read_manifest,
)
from stackseg.errors import InputDataError


def _manifest_path(trained) -> Path:
    return trained.path("prepared") / MANIFEST_NAME


def _on_disk(path: Path) -> dict:
    return json.loads(path.read_text())


# ------------------------------------------------------------------ the contract's readers


@pytest.mark.slow
def test_contract_reads_the_prepare_written_manifest_unchanged(trained):
    path = _manifest_path(trained)
    manifest = read_manifest(trained.path("prepared"), trained.classes)
    assert manifest.format == MANIFEST_FORMAT
    assert manifest.classes == trained.classes
    # nothing prepare wrote is dropped or re-typed, and writing it back gives the same bytes
    assert manifest.model_dump(mode="json", exclude_none=True) == _on_disk(path)
    assert manifest.dumps() == path.read_text()
    assert len({pair.stack for pair in manifest.pairs}) == trained.params["synth"]["stacks"]
    for split in SPLITS:
        pairs = manifest.split_pairs(split)
        assert len(pairs) == manifest.splits[split].pairs > 0, split
        for pair in pairs:
            assert (trained.path("prepared") / pair.image).is_file(), pair.image
            assert (trained.path("prepared") / pair.mask).is_file(), pair.mask
            assert Path(pair.mask).stem == pair.name


@pytest.mark.slow
def test_contract_reads_the_train_written_card_unchanged(trained):
    path = trained.path("model_card")
    card = read_card(path, trained.classes)
    assert card.format == CARD_FORMAT
    assert json.loads(card.dumps()) == _on_disk(path)
    assert card.dumps() == path.read_text()
    manifest = read_manifest(trained.path("prepared"))
    # the card describes the model trained on this manifest
    assert card.classes == manifest.classes
    assert card.input.channels == manifest.image_channels
    assert card.output.channels == len(manifest.classes)
    assert card.input.size_multiple == 2 ** trained.params["train"]["depth"]
    assert card.input.train_size == trained.params["train"]["image_size"]
    assert card.lineage.pairs == {split: manifest.splits[split].pairs for split in SPLITS}
    assert (path.parent / card.model_file).resolve() == trained.path("model").resolve()


# ------------------------------------------------------------------------- stage readers


@pytest.mark.slow
def test_train_reader_agrees_with_the_contract(trained):
    from stackseg.train.prepared import prepared_hash, raw_hash, read_prepared

    prepared = trained.path("prepared")
    manifest = read_manifest(prepared)
    data = read_prepared(prepared, trained.classes)
    assert data.manifest == manifest
    assert data.image_channels == manifest.image_channels
    for split in SPLITS:
        pairs = manifest.split_pairs(split)
        listed = data.splits[split]
        assert list(listed.images) == [str(prepared / pair.image) for pair in pairs]
        assert list(listed.masks) == [str(prepared / pair.mask) for pair in pairs]
        assert list(listed.heights) == [pair.height for pair in pairs]
        assert list(listed.widths) == [pair.width for pair in pairs]
    # the card's lineage hashes are those of this prepared directory
    card = read_card(trained.path("model_card"))
    assert card.lineage.prepared_data_sha256 == prepared_hash(data)
    assert card.lineage.raw_data_sha256 == raw_hash(data)


@pytest.mark.slow
def test_evaluate_readers_agree_with_the_contract(trained, monkeypatch):
    """evaluate's loading path (model + card from params, channel check, pair decoding)
    accepts what prepare and train wrote."""
    from stackseg import trained as trained_model
    from stackseg.config import load_config
    from stackseg.evaluate import io

    prepared = trained.path("prepared")
    manifest = read_manifest(prepared, trained.classes)
    card = read_card(trained.path("model_card"), trained.classes)
    monkeypatch.chdir(trained.root)
    cfg = load_config("params.yaml")
    model, loaded_card = trained_model.load_trained(cfg)
    assert loaded_card == card
    assert model.outputs[0].shape[-1] == card.output.channels
    trained_model.check_channels(model, manifest, cfg)  # raises on a mismatch
    test = manifest.split_pairs("test")
    decoded = list(io.iter_pairs(prepared, test, manifest.image_channels, len(manifest.classes)))
    assert [pair for pair, _, _ in decoded] == test
    for pair, image, mask in decoded:
        assert image.shape == (pair.height, pair.width, manifest.image_channels)
        assert mask.shape == (pair.height, pair.width, len(manifest.classes))


# ---------------------------------------------------------------- refused: format, fields


def _one_line(excinfo: pytest.ExceptionInfo, path: Path) -> str:
    problems = excinfo.value.problems
    assert len(problems) == 1, problems
    (line,) = problems
    assert "\n" not in line and line.startswith(f"{path}: "), line
    return line


@pytest.mark.slow
@pytest.mark.parametrize("found", [MANIFEST_FORMAT + 1, 0, str(MANIFEST_FORMAT), None])
def test_manifest_of_another_format_is_refused(trained, tmp_path, found):
    document = _on_disk(_manifest_path(trained))
    document["format"] = found
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(document))
    with pytest.raises(InputDataError) as excinfo:
        read_manifest(tmp_path, trained.classes)
    line = _one_line(excinfo, tmp_path / MANIFEST_NAME)
    assert repr(found) in line and str(MANIFEST_FORMAT) in line
    assert "dvc repro" in line  # says what to do


@pytest.mark.slow
@pytest.mark.parametrize("found", ["stackseg-model-card/2", "stackseg-model-card", 1, None])
def test_card_of_another_format_is_refused(trained, tmp_path, found):
    document = _on_disk(trained.path("model_card"))
    document["format"] = found
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputDataError) as excinfo:
        read_card(path, trained.classes)
    line = _one_line(excinfo, path)
    assert repr(found) in line and CARD_FORMAT in line
    assert "dvc repro" in line


@pytest.mark.slow
@pytest.mark.parametrize(
    ("field", "named"),
    [
        (("fingerprint",), "fingerprint"),
        (("pairs", 0, "height"), "pairs.0.height"),
        (("stacks", "*", "source_hash"), "source_hash"),
    ],
)
def test_manifest_missing_a_field_is_refused_naming_it(trained, tmp_path, field, named):
    document = _on_disk(_manifest_path(trained))
    _delete(document, field)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(document))
    with pytest.raises(InputDataError) as excinfo:
        read_manifest(tmp_path, trained.classes)
    line = _one_line(excinfo, tmp_path / MANIFEST_NAME)
    assert named in line and "missing" in line.lower()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("field", "named"), [(("lineage",), "lineage"), (("input", "size_multiple"), "size_multiple")]
)
def test_card_missing_a_field_is_refused_naming_it(trained, tmp_path, field, named):
    document = _on_disk(trained.path("model_card"))
    _delete(document, field)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputDataError) as excinfo:
        read_card(path, trained.classes)
    line = _one_line(excinfo, path)
    assert named in line and "missing" in line.lower()


def _delete(document: dict, field: tuple) -> None:
    """Delete `field` (a key path; "*" = the first key of a mapping) from `document`."""
    node = document
    for key in field[:-1]:
        node = node[next(iter(node))] if key == "*" else node[key]
    del node[field[-1]]
