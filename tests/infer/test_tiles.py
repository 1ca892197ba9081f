"""Tiled prediction: tile geometry, blend weights, and equality with whole-frame prediction
away from the seams (the session's trained model)."""

from __future__ import annotations

import numpy as np
import pytest

from stackseg.infer.tiles import predict_tiled, ramp, tile_geometry, tile_starts, tiles
from stackseg.predict import predict_frames
from tests.infer.conftest import prepared_image


def test_tiles_cover_the_frame_on_the_pooling_grid():
    tile, step = tile_geometry(100, 20, 8)
    assert (tile, step) == (96, 72)
    assert tile_starts(50, 96, 72) == [0]
    assert tile_starts(200, 96, 72) == [0, 72, 144]
    covered = np.zeros((200, 170), int)
    for top, left, bottom, right in tiles(200, 170, tile, step):
        assert top % 8 == 0 and left % 8 == 0 and bottom - top <= 96
        covered[top:bottom, left:right] += 1
    assert covered.min() >= 1


def test_blend_weights_ramp_towards_the_edges_and_never_vanish():
    weights = ramp(64, 16)
    assert weights.min() > 0 and weights[0] < weights[8] < weights[16] == 1.0
    np.testing.assert_array_equal(weights, weights[::-1])
    assert np.all(ramp(10, 0) == 1)


@pytest.mark.slow
def test_tiled_prediction_equals_whole_frame_prediction_away_from_seams(
    trained, test_pairs, model_dir, card
):
    from stackseg import runtime
    from stackseg.preprocessing import to_model_input

    backend = runtime.KerasBackend.load(model_dir / "model.keras")
    # a 192 x 192 mosaic of 16 test frames: structures everywhere
    images = [prepared_image(trained, pair) for pair in test_pairs[:16]]
    mosaic = np.concatenate([np.concatenate(images[r * 4 : r * 4 + 4], 1) for r in range(4)], 0)
    multiple = card.input.size_multiple
    ((_, _, whole),) = predict_frames(backend, [(0, mosaic)], to_model_input, multiple, 4)
    tiled = predict_tiled(backend, mosaic, to_model_input, multiple, 4, 128, 16)
    threshold = card.output.threshold_array()
    # tiles [0, 128) and [112, 192): the seam is 112..128. Keep the pixels at least 32 px
    # from either tile edge inside the frame (the depth-3 model's reach, measured: at 24 px
    # tiled and whole differ by up to 2e-3, from 32 px on by 2e-7)
    distance = np.minimum(np.abs(np.arange(192) - 112), np.abs(np.arange(192) - 128))
    far = distance >= 32
    region = far[:, None] & far[None, :]
    np.testing.assert_allclose(tiled[region], whole[region], atol=1e-5)
    assert np.array_equal(tiled[region] >= threshold, whole[region] >= threshold)
    # near the seams the masks still agree almost everywhere (blended, no visible seam)
    agree = np.mean((tiled >= threshold) == (whole >= threshold))
    assert agree > 0.99
