"""The dashboard's pages under Streamlit's AppTest (the real scripts, in process): each page
runs without an exception, shows what it promises, and shows a bad input as one error."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.dashboard.settings import ENV_VAR, Settings
from tests.dashboard.conftest import app_test, page_errors


def _png(image: np.ndarray) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.png_encode(np.ascontiguousarray(image)))


def _test_frame(trained) -> np.ndarray:
    from stackseg.contracts import read_manifest
    from stackseg.evaluate.io import read_image

    pair = read_manifest(trained.path("prepared")).split_pairs("test")[0]
    return read_image(trained.path("prepared") / pair.image, 1)[..., 0]


@pytest.mark.slow
def test_upload_shows_the_overlay_and_a_png_download(settings_env, trained):
    at = app_test()
    assert page_errors(at) == []
    assert at.title[0].value == "Try the model"
    assert [c.value for c in at.caption][0].startswith(settings_env.keras)
    at.file_uploader(key="upload").set_value(("frame.png", _png(_test_frame(trained)), "image/png"))
    at.run()
    assert page_errors(at) == []
    captions = [caption for image in at.image for caption in image.captions]
    assert captions == ["frame image", "prediction overlay"]
    assert at.get("download_button")[0].proto.label == "Download the mask (PNG)"
    fractions = at.dataframe[0].value
    assert list(fractions.index) == trained.classes and list(fractions.columns) == ["prediction"]
    assert (fractions["prediction"] < 0.5).all() and fractions["prediction"].sum() > 0
    # threshold 0 for the first class: every pixel is in it
    at.slider(key="threshold_0").set_value(0.0).run()
    assert at.dataframe[0].value["prediction"].iloc[0] == 1.0


@pytest.mark.slow
def test_a_test_frame_shows_its_ground_truth(settings_env, trained):
    at = app_test()
    at.radio(key="source").set_value("A test frame").run()
    assert page_errors(at) == []
    names = at.selectbox(key="test_frame").options
    assert len(names) == 16
    captions = [caption for image in at.image for caption in image.captions]
    assert captions == [f"{names[0]} image", "ground truth", "prediction overlay"]
    assert list(at.dataframe[0].value.columns) == ["prediction", "ground truth"]
    # toggling a class off changes the overlay, not the fractions
    before = at.image[2].value
    at.checkbox(key="show_0").uncheck().run()
    assert at.image[2].value != before


def test_a_stack_upload_has_a_frame_slider_and_a_tiff_download(settings_env, trained):
    stack = sorted((trained.root / "data/raw/images").glob("*.tif"))[0]
    at = app_test()
    at.file_uploader(key="upload").set_value((stack.name, stack.read_bytes(), "image/tiff"))
    at.run()
    assert page_errors(at) == []
    assert at.slider(key="frame").max == 3
    assert at.get("download_button")[0].proto.label == "Download the masks (TIFF stack)"


def test_a_bad_upload_is_one_error_on_the_page(settings_env):
    at = app_test()
    at.file_uploader(key="upload").set_value(("broken.tif", b"II*\x00 not a tiff", "image/tiff"))
    at.run()
    [error] = page_errors(at)
    assert error.startswith("broken.tif: "), error
    assert not at.image  # nothing shown for it


def test_a_missing_model_is_one_error_on_the_page(trained, tmp_path, monkeypatch):
    settings = Settings(
        str(trained.root), str(trained.root / "params.yaml"), str(tmp_path / "none.keras")
    )
    monkeypatch.setenv(ENV_VAR, settings.to_env())
    at = app_test()
    [error] = page_errors(at)
    assert error.startswith(f"{tmp_path / 'none.keras'}: not found"), error


def test_without_settings_the_page_says_how_to_start_it(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    at = app_test()
    assert page_errors(at) == [
        f"{ENV_VAR} is not set: start the dashboard with `stackseg dashboard`"
    ]


def _drift_settings(settings, reference_file, monkeypatch):
    import dataclasses

    chosen = dataclasses.replace(settings, reference=str(reference_file))
    monkeypatch.setenv(ENV_VAR, chosen.to_env())


@pytest.mark.slow
def test_the_drift_page_finds_none_in_the_test_split_and_flags_a_brightened_stack(
    settings, reference_file, trained, monkeypatch
):
    import io

    import tifffile

    _drift_settings(settings, reference_file, monkeypatch)
    at = app_test("drift.py")
    assert page_errors(at) == []
    assert at.caption[0].value.startswith(f"reference {reference_file}: 24 frames")
    at.radio[0].set_value("The prepared test split").run()
    assert page_errors(at) == []
    assert [s.value for s in at.success] == [
        "No drift in 16 frames: every metric within its threshold"
    ]
    assert len(at.image) == 2  # the histogram and scores figures
    scores = at.dataframe[0].value
    assert {"histogram.kl", "histogram.psi", "mean.ks"} <= set(scores["metric"])
    # the same frames 60 levels brighter: drift
    frames = np.stack([_bright(f) for f in _test_frames(trained)])
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, frames, photometric="minisblack")
    at.radio[0].set_value("Upload frames or stacks").run()
    at.file_uploader(key="drift_uploads").set_value(
        [("bright.tif", buffer.getvalue(), "image/tiff")]
    ).run()
    assert page_errors(at) == []
    [warning] = [w.value for w in at.warning]
    assert warning.startswith("DRIFT in 16 frames: ") and "mean.wasserstein" in warning, warning


def _bright(frame: np.ndarray) -> np.ndarray:
    return np.clip(frame.astype(np.int16) + 60, 0, 255).astype(np.uint8)


def _test_frames(trained) -> list[np.ndarray]:
    from stackseg.contracts import read_manifest
    from stackseg.evaluate.io import read_image

    prepared = trained.path("prepared")
    pairs = read_manifest(prepared).split_pairs("test")
    return [read_image(prepared / pair.image, 1)[..., 0] for pair in pairs]


def test_the_drift_page_without_a_reference_says_how_to_build_it(settings_env, trained):
    at = app_test("drift.py")
    [error] = page_errors(at)
    assert error == (
        f"{trained.root / 'models/reference.json'}: no drift reference; build it with "
        "`dvc repro reference`"
    )


def test_a_bad_drift_upload_is_one_error(settings, reference_file, monkeypatch):
    _drift_settings(settings, reference_file, monkeypatch)
    at = app_test("drift.py")
    at.file_uploader(key="drift_uploads").set_value(
        [("bad.png", b"\x89PNG\r\n\x1a\nxx", "image/png")]
    )
    at.run()
    [error] = page_errors(at)
    assert error.startswith("bad.png: not a readable PNG"), error
