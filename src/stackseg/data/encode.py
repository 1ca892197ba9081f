"""Fast codecs for the prepared pairs.

Images: JPEG through simplejpeg (libjpeg-turbo), accurate DCT, 4:4:4 chroma (no colour
subsampling, so thin coloured structures survive), quality from params.
Masks: lossless PNG through imagecodecs (libpng) with zlib level 1, run-length strategy and
the Sub filter: the settings of OpenCV's default PNG writer (same bytes), but RGB(A)
channel order as given, so class k is channel k for every PNG reader.
"""

from __future__ import annotations

import imagecodecs
import numpy as np
import simplejpeg

from stackseg.data.plan import JPEG_SUBSAMPLING, PNG_FILTER_SUB, PNG_LEVEL, PNG_STRATEGY_RLE


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a uint8 (H, W), (H, W, 1) or (H, W, 3) RGB image."""
    if image.ndim == 2:
        image = image[..., None]
    colorspace = "GRAY" if image.shape[-1] == 1 else "RGB"
    return simplejpeg.encode_jpeg(
        np.ascontiguousarray(image),
        quality=quality,
        colorspace=colorspace,
        colorsubsampling=JPEG_SUBSAMPLING,
    )


def encode_png(mask: np.ndarray) -> bytes:
    """Lossless PNG bytes of a uint8 (H, W) L, (H, W, 3) RGB or (H, W, 4) RGBA array."""
    return bytes(
        imagecodecs.png_encode(
            np.ascontiguousarray(mask),
            level=PNG_LEVEL,
            strategy=PNG_STRATEGY_RLE,
            filter=PNG_FILTER_SUB,
        )
    )
