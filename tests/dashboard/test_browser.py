"""The real dashboard in a real browser: `stackseg dashboard` in a subprocess (a free port,
bounded waits, stopped in `finally`), Debian's headless Chromium driven by Playwright with
every request off 127.0.0.1 refused (the dashboard must work offline: nothing from a CDN),
a frame uploaded, the prediction overlay drawn. The screenshot is kept as a test artefact
in $STACKSEG_TEST_ARTIFACTS (default build/test-artifacts/, git-ignored)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import BIN, ROOT
from tests.servers import Server, free_port, serving

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("STACKSEG_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
START_S, DRAW_MS = 90, 60_000
# the overlay's <img> has loaded and has pixels
OVERLAY_DRAWN = """() => Array.from(document.querySelectorAll('[data-testid="stImageContainer"]'))
    .some(c => c.textContent.includes('prediction overlay')
          && Array.from(c.querySelectorAll('img')).some(i => i.complete && i.naturalWidth > 0))"""


def _healthy(server: Server) -> bool:
    return httpx.get(f"{server.url}/_stcore/health", timeout=2).text == "ok"


@pytest.mark.slow
def test_the_dashboard_draws_the_overlay_of_an_upload_offline(trained, model_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs it (or set CHROMIUM)")
    import imagecodecs

    frame = tmp_path / "frame.png"
    frame.write_bytes(bytes(imagecodecs.png_encode(_a_test_frame(trained))))
    port = free_port()
    command = [str(BIN / "stackseg"), "dashboard", "--port", str(port)]
    command += ["--params", str(trained.root / "params.yaml")]
    command += ["--model", str(model_dir / "model.keras")]
    tried: list[str] = []
    with serving(
        command,
        port,
        tmp_path / "dashboard.log",
        ready=_healthy,
        cwd=tmp_path,
        within=START_S,
        stop_within=20,
    ) as server:
        url = server.url
        # 127.0.0.1 only (little-endian hex in /proc): not every interface
        assert _listening(port) == {"0100007F"}, _listening(port)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                tab = browser.new_page(viewport={"width": 1400, "height": 1000})

                def refuse(route) -> None:
                    tried.append(route.request.url)
                    route.abort()

                # every request that does not go to the dashboard itself
                tab.route(re.compile(rf"^(?!https?://127\.0\.0\.1:{port}/)"), refuse)
                tab.goto(url)
                tab.locator('input[type="file"]').set_input_files(str(frame), timeout=DRAW_MS)
                tab.wait_for_function(OVERLAY_DRAWN, timeout=DRAW_MS)
                # the rest of the page: the fractions table and the download button
                tab.locator('[data-testid="stDataFrame"]').wait_for(timeout=DRAW_MS)
                tab.get_by_text("Download the mask (PNG)").wait_for(timeout=DRAW_MS)
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                tab.screenshot(path=str(ARTIFACTS / "dashboard-try-the-model.png"), full_page=True)
                body = tab.inner_text("body")
            finally:
                browser.close()
    assert "Class fractions" in body and "Download the mask (PNG)" in body, body
    assert "Traceback" not in body
    assert tried == [], tried  # offline: nothing but the dashboard's own address
    assert (ARTIFACTS / "dashboard-try-the-model.png").stat().st_size > 10_000
    assert f"http://127.0.0.1:{port}" in server.log.read_text()
    # Ctrl-C stopped Streamlit too: exit 130, the port is free
    assert server.returncode == 130 and not server.killed, server.text()
    assert _listening(port) == set()


def _listening(port: int) -> set[str]:
    """The addresses a socket listens on at `port` (Linux's /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def _a_test_frame(trained) -> np.ndarray:
    from stackseg.contracts import read_manifest
    from stackseg.evaluate.io import read_image

    pair = read_manifest(trained.path("prepared")).split_pairs("test")[0]
    return read_image(trained.path("prepared") / pair.image, 1)[..., 0]
