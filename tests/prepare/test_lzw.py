"""The C LZW decoder (src/stackseg/data/_lzw.c) against imagecodecs, tifffile's decoder."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
import tifffile

from stackseg.data import pages
from stackseg.data._lzw import tiff_lzw_decode  # the dev install must have built it
from stackseg.data.plan import LZW_COMPRESSION
from stackseg.data.tiff_io import StackReader, read_layout

RNG = np.random.default_rng(7)
GUARD = 64  # bytes after the output that the decoder must never touch


def _samples() -> dict[str, bytes]:
    runs = np.repeat(RNG.integers(0, 3, 3000, dtype=np.uint8), RNG.integers(1, 300, 3000))
    mask = np.zeros((256, 256, 3), np.uint8)
    mask[40:90, 30:200, 0] = 255
    mask[100:180, 120:140, 2] = 255
    return {
        "one byte": b"\x07",
        "random bytes (table cleared many times)": RNG.integers(0, 256, 60_000, np.uint8).tobytes(),
        "long runs": runs.tobytes(),
        "binary mask": mask.tobytes(),
        "two values": (RNG.integers(0, 2, 200_000, np.uint8) * 255).tobytes(),
        "repeated byte (the code being defined, again and again)": b"\x05" * 100_000,
    }


SAMPLES = _samples()


def _decode(encoded: bytes, size: int) -> bytes:
    """The decoded bytes, from an output buffer of `size` followed by a guard region."""
    out = np.full(size + GUARD, 0xAB, np.uint8)
    written = tiff_lzw_decode(encoded, out[:size])
    assert (out[size:] == 0xAB).all(), "wrote past the output buffer"
    return out[:written].tobytes()


@pytest.mark.parametrize("name", list(SAMPLES))
def test_decodes_what_imagecodecs_encodes(name):
    data = SAMPLES[name]
    encoded = imagecodecs.lzw_encode(data)
    decoded = _decode(encoded, len(data))
    assert decoded == data
    assert decoded == imagecodecs.lzw_decode(encoded)


def test_a_short_buffer_gets_the_first_bytes_only():
    data = SAMPLES["long runs"]
    encoded = imagecodecs.lzw_encode(data)
    for size in (1, 2, 1000, len(data) - 1):
        decoded = _decode(encoded, size)
        assert decoded == data[:size]


def test_a_stream_cut_short_decodes_what_it_holds():
    data = SAMPLES["binary mask"]
    encoded = imagecodecs.lzw_encode(data)
    decoded = _decode(encoded[: len(encoded) // 2], len(data))
    assert 0 < len(decoded) < len(data) and data.startswith(decoded)


def _msb_first_stream(codes) -> bytes:
    """Codes packed MSB first with TIFF 6's widths: 9 bits after CLEAR, one bit more once
    the next table entry would be 511, 1023 and 2047 ("early change")."""
    width, next_entry, first, bits = 9, 258, True, []
    for code in codes:
        bits.append(f"{code:0{width}b}")
        if code == 256:
            width, next_entry, first = 9, 258, True
        elif first:
            first = False
        else:
            next_entry += 1
            width += next_entry in (511, 1023, 2047)
    text = "".join(bits)
    size = (len(text) + 7) // 8
    return int(text.ljust(8 * size, "0"), 2).to_bytes(size, "big")


def test_corrupt_codes_are_refused():
    stream = _msb_first_stream((256, 65, 66, 258, 257))  # CLEAR, A, B, "AB", EOI
    assert _decode(stream, 100) == b"ABAB" == imagecodecs.lzw_decode(stream)
    with pytest.raises(ValueError, match="code 300 is not yet in the table"):
        _decode(_msb_first_stream((256, 65, 300, 257)), 100)
    with pytest.raises(ValueError, match="code 258 follows a clear code"):
        _decode(_msb_first_stream((256, 258, 257)), 100)
    with pytest.raises(ValueError, match="starts with code 65, not a clear code"):
        _decode(_msb_first_stream((65, 66, 257)), 100)


def test_a_full_table_takes_as_many_more_codes_as_imagecodecs_allows():
    # without CLEAR every 12-bit code looks defined once the table is full, so a damaged
    # CLEAR would pass as pixels: like imagecodecs (and libtiff), stop 1024 codes later
    literals = [code % 256 for code in range(4863)]
    stream = _msb_first_stream((256, *literals, 257))
    assert _decode(stream, 5000) == bytes(literals) == imagecodecs.lzw_decode(stream)
    damaged = _msb_first_stream((256, *literals, 7, 257))
    with pytest.raises(ValueError, match="code 7 long after the table is full"):
        _decode(damaged, 5000)
    with pytest.raises(Exception, match="TABLE_TOO_SMALL"):
        imagecodecs.lzw_decode(damaged)


def test_random_and_damaged_input_never_writes_outside_the_buffer():
    valid = imagecodecs.lzw_encode(SAMPLES["binary mask"])
    for trial in range(400):
        if trial % 2:
            stream = bytearray(valid)
            for position in RNG.integers(0, len(stream), 1 + trial % 7):
                stream[position] = RNG.integers(0, 256)
        else:
            stream = b"\x80" + RNG.integers(0, 256, RNG.integers(1, 3000), np.uint8).tobytes()
        try:
            _decode(bytes(stream), int(RNG.integers(1, 300_000)))
        except ValueError as exc:
            assert "corrupt LZW data" in str(exc)


def _lsb_first_stream(data: bytes) -> bytes:
    """Old-style (pre-TIFF 6) LZW: literals only, 9-bit codes packed LSB first."""
    value, bits = 0, 0
    for shift, code in enumerate((256, *data, 257)):
        value |= code << (9 * shift)
        bits += 9
    return value.to_bytes((bits + 7) // 8, "little")


def test_old_lsb_first_streams_go_to_tifffiles_decoder():
    data = b"old style"
    stream = _lsb_first_stream(data)
    assert imagecodecs.lzw_decode(stream) == data
    decompress = pages._lzw_decoder(imagecodecs.lzw_decode)
    out = np.zeros(len(data), np.uint8)
    assert decompress(stream, out=out).tobytes() == data


def test_lzw_stacks_are_read_with_the_c_decoder(tmp_path, monkeypatch):
    frames = RNG.integers(0, 2, (4, 64, 48, 3), np.uint8) * 255
    path = tmp_path / "masks.tif"
    tifffile.imwrite(path, frames, photometric="rgb", compression="lzw", rowsperstrip=10)
    layout = read_layout(str(path), 3)
    assert layout.direct is not None and layout.direct.compression == LZW_COMPRESSION
    calls = []
    monkeypatch.setattr(
        pages, "tiff_lzw_decode", lambda data, out: calls.append(1) or tiff_lzw_decode(data, out)
    )
    with StackReader(layout, reuse_buffer=True) as reader:
        for index, want in enumerate(frames):
            np.testing.assert_array_equal(reader.frame(index), want)
    assert len(calls) == 4 * len(layout.direct.strips[0])
