"""The "Drift" page's functions: which reference, the frames' profiles (uploads, a folder,
the test split), one-line errors naming the file, a feature's distributions."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from stackseg.dashboard import driftview
from stackseg.errors import InputDataError


@pytest.fixture
def cfg(settings):
    return settings.config()


def test_the_reference_is_the_named_one_else_the_models_else_the_workspaces(
    settings, cfg, tmp_path
):
    assert driftview.reference_path(settings, cfg) == settings.path("models/reference.json")
    keras = tmp_path / "model.keras"
    (tmp_path / "reference.json").write_text("{}")
    beside = dataclasses.replace(settings, keras=str(keras))
    assert driftview.reference_path(beside, cfg) == tmp_path / "reference.json"
    named = dataclasses.replace(beside, reference="/x/ref.json")
    assert str(driftview.reference_path(named, cfg)) == "/x/ref.json"


def test_a_missing_reference_is_one_line_naming_it(settings, cfg):
    with pytest.raises(InputDataError) as caught:
        driftview.load(settings, cfg)
    [line] = caught.value.problems
    assert line.startswith(f"{settings.path('models/reference.json')}: no drift reference")


def test_uploads_a_folder_and_the_test_split_give_profiles(settings, cfg, trained, tmp_path):
    stacks = sorted((trained.root / "data/raw/images").glob("*.tif"))[:2]
    uploaded = driftview.uploads_profile(cfg, [(s.name, s.read_bytes()) for s in stacks], 32)
    assert uploaded.frames == 8 and uploaded.histograms.shape == (8, 32)
    for stack in stacks:
        shutil.copy(stack, tmp_path / stack.name)
    folder = driftview.folder_profile(settings, cfg, str(tmp_path), 32)
    np.testing.assert_allclose(folder.histograms, uploaded.histograms)
    split = driftview.split_profile(settings, cfg, 32)
    assert split.frames == 16 and len(set(split.groups.tolist())) == 4


def test_bad_uploads_and_folders_are_one_line_naming_them(settings, cfg, tmp_path):
    with pytest.raises(InputDataError, match=r"^bad.tif: "):
        driftview.uploads_profile(cfg, [("bad.tif", b"II*\x00 broken")], 32)
    with pytest.raises(InputDataError, match=r"^empty.png: the file is empty"):
        driftview.uploads_profile(cfg, [("empty.png", b"")], 32)
    with pytest.raises(InputDataError, match="not a folder"):
        driftview.folder_profile(settings, cfg, str(tmp_path / "none"), 32)
    with pytest.raises(InputDataError, match="no image files"):
        driftview.folder_profile(settings, cfg, str(tmp_path), 32)


def test_feature_rows_are_both_distributions_on_common_bins(reference_file, settings, cfg):
    from stackseg.drift import load_reference

    reference = load_reference(reference_file)
    current = driftview.split_profile(settings, cfg, reference.bins)
    rows = driftview.feature_rows(reference, current, "mean")
    assert len(rows) == driftview.FEATURE_BINS
    assert sum(r["reference"] for r in rows) == pytest.approx(1.0)
    assert sum(r["current"] for r in rows) == pytest.approx(1.0)
    assert [r["value"] for r in rows] == sorted(r["value"] for r in rows)
