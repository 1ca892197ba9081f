"""The worker's file writer: pairs wait in memory and are created in bursts."""

from __future__ import annotations

import os

from stackseg.prepare.pairs import _PairFiles


def _files(root) -> dict[str, bytes]:
    return {
        f"{folder}/{name}": (root / folder / name).read_bytes()
        for folder in ("images", "masks")
        for name in sorted(os.listdir(root / folder))
    }


def test_files_are_created_in_bursts_of_the_batch_size(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    files = _PairFiles(str(tmp_path), batch=2)
    expected = {}
    for index in range(3):
        for relative in (f"images/{index}.jpg", f"masks/{index}.png"):
            files.write(relative, relative.encode() * (index + 1))
            expected[relative] = relative.encode() * (index + 1)
        # two pairs make a burst; the third pair waits for flush
        assert len(_files(tmp_path)) == (4 if index >= 1 else 0)
    files.flush()
    files.close()
    assert _files(tmp_path) == expected


def test_files_still_waiting_at_close_are_not_written(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    files = _PairFiles(str(tmp_path), batch=16)
    files.write("images/0.jpg", b"x")
    files.close()  # a job that stops on a problem closes without flushing
    assert _files(tmp_path) == {}


def test_large_files_go_out_once_the_byte_limit_is_reached(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    files = _PairFiles(str(tmp_path), batch=16, max_bytes=1000)
    files.write("images/0.jpg", b"x" * 600)
    assert _files(tmp_path) == {}  # under the limit: waits
    files.write("masks/0.png", b"y" * 600)  # 1,200 bytes waiting: out now, not at 16 pairs
    assert _files(tmp_path) == {"images/0.jpg": b"x" * 600, "masks/0.png": b"y" * 600}
    files.write("images/1.jpg", b"z")
    assert len(_files(tmp_path)) == 2  # the count started again
    files.close()
