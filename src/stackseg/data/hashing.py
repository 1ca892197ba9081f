"""Content hashes of the raw files, to tell which stacks changed since the previous run.

XXH3-128 is a change detector, not a security check: it runs at memory speed, where
sha256 cost as much CPU as decoding the mask frames. Chunks go through one reused buffer.
"""

from __future__ import annotations

import xxhash

HASH_CHUNK = 1 << 20


def file_hash(path: str) -> str:
    """Hex XXH3-128 (plan.HASH_ALGORITHM) of the file's bytes."""
    digest = xxhash.xxh3_128()
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()
