"""An app serving the session's trained model (`model_dir`: tests/conftest.py), inputs made
from its test frames, and `stackseg infer`'s own results for the same files."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from stackseg.config import load_config
from stackseg.infer import model as models
from stackseg.infer import stage


def write_params(folder: Path, params: dict, **serve) -> Path:
    params = {**params, "serve": {**params["serve"], **serve}}
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def make_app(model_dir: Path, params: Path):
    from stackseg.serve.app import create_app
    from stackseg.serve.settings import Settings

    return create_app(Settings(params=str(params), keras=str(model_dir / "model.keras")))


def wait_ready(client, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if client.get("/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"not ready after {seconds} s: {client.get('/ready').json()}")


@pytest.fixture(scope="module")
def serve_params(trained, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("serve-params")
    return write_params(folder, trained.params, threads=2)


@pytest.fixture(scope="module")
def client(model_dir, serve_params):
    from fastapi.testclient import TestClient

    with TestClient(make_app(model_dir, serve_params)) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="session")
def frames(trained) -> list[np.ndarray]:
    """Four test frames of the trained project's stacks, gray uint8 (H, W)."""
    from stackseg.contracts import read_manifest
    from stackseg.evaluate.io import read_image

    pairs = read_manifest(trained.path("prepared")).split_pairs("test")[:4]
    return [read_image(trained.path("prepared") / p.image, 1)[..., 0] for p in pairs]


def png_bytes(image: np.ndarray) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.png_encode(np.ascontiguousarray(image)))


def tiff_bytes(array: np.ndarray, **options) -> bytes:
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **{"photometric": "minisblack", **options})
    return buffer.getvalue()


def bomb_tiff(width: int, height: int) -> bytes:
    """A ~100-byte classic TIFF whose one page declares width x height 8-bit pixels."""
    tags = [  # (tag, type SHORT 3 / LONG 4, value)
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8),  # the strip "starts" at the header: the data is not there
        (277, 3, 1),
        (278, 4, height),
        (279, 4, width * height),
    ]
    ifd = struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        ifd += struct.pack("<HHI", tag, kind, 1)
        ifd += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


def bomb_png(width: int, height: int) -> bytes:
    """A real small PNG whose header (IHDR) is rewritten to declare width x height."""
    data = bytearray(png_bytes(np.zeros((8, 8), np.uint8)))
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def bomb_jpeg(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is rewritten to declare width x height."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.zeros((8, 8), np.uint8))
    assert ok
    data = bytearray(data.tobytes())
    sof = data.index(b"\xff\xc0")  # marker, length (2), precision (1), height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def infer_outputs(model_dir: Path, params: Path, inputs: list[Path], out: Path, **options):
    """`stackseg infer` (its stage, in process) on `inputs`, the model of `model_dir`."""
    cfg = load_config(params)
    opts = stage.Options(
        inputs=[str(p) for p in inputs],
        out=out,
        backend=cfg.infer.backend,
        batch_size=cfg.infer.batch_size,
        show_progress=False,
        **options,
    )
    stage.run(cfg, opts, models.beside(model_dir / "model.keras"))
    return out


@pytest.fixture(scope="session")
def card(model_dir):
    from stackseg.contracts import read_card

    return read_card(model_dir / "model.json")
