"""The dashboard over the session's trained project (tests/trained.py) and its ONNX export
(`model_dir`): settings in the environment as `stackseg dashboard` sets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackseg.dashboard import app
from stackseg.dashboard.settings import ENV_VAR, Settings

APP = Path(app.__file__)
# the first run loads the model (ONNX Runtime) and predicts: more than AppTest's 3 s default
RUN_TIMEOUT_S = 60


@pytest.fixture(scope="session", autouse=True)
def _component_scan_once():
    """Each AppTest scans every installed distribution's metadata for Streamlit components
    (4-9 s here; the dashboard uses none): scanned once per session instead, the packages
    do not change while the tests run."""
    import functools

    from streamlit.components.v2 import manifest_scanner

    original = manifest_scanner.scan_component_manifests
    manifest_scanner.scan_component_manifests = functools.cache(original)
    yield
    manifest_scanner.scan_component_manifests = original


@pytest.fixture
def settings(trained, model_dir) -> Settings:
    """The trained project (read only) with the exported model of `model_dir`."""
    return Settings(
        str(trained.root), str(trained.root / "params.yaml"), str(model_dir / "model.keras")
    )


@pytest.fixture
def settings_env(settings, monkeypatch) -> Settings:
    monkeypatch.setenv(ENV_VAR, settings.to_env())
    return settings


def app_test(page: str | None = None):
    """AppTest of the dashboard, on `page` (a script of views/) when given, after one run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run()
    if page is not None:
        at.switch_page(f"views/{page}").run()
    return at


def page_errors(at) -> list[str]:
    """The error boxes of the page; an uncaught exception fails the test with its text."""
    assert not at.exception, [e.value for e in at.exception]
    return [e.value for e in at.error]


@pytest.fixture(scope="session")
def reference_file(trained, tmp_path_factory) -> Path:
    """A drift reference of the trained project's training split (stackseg.drift, as the
    `reference` stage builds it; fewer bootstrap resamples: it only has to be a reference)."""
    from stackseg.config import load_config
    from stackseg.contracts import read_manifest
    from stackseg.drift import build_reference, profile_frames
    from stackseg.evaluate.io import read_image

    cfg = load_config(trained.root / "params.yaml")
    prepared = trained.path("prepared")
    pairs = read_manifest(prepared).split_pairs("train")
    frames = [read_image(prepared / pair.image, 1) for pair in pairs]
    images = profile_frames(frames, cfg.drift.bins, [pair.stack for pair in pairs])
    reference = build_reference(images, cfg.drift.bins, cfg.drift.alpha, 200, 0, show=False)
    return reference.save(tmp_path_factory.mktemp("drift") / "reference.json")
