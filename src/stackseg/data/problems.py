"""Per-frame problems as report lines: at most a few per file, then one summary line.

Workers return every problem they find as a (file, frame, message) record; the parent
replays them in stack and frame order, so the report is the same however the frames were
spread over the workers.
"""

from __future__ import annotations

FRAME_PROBLEMS_PER_FILE = 10


class FrameProblems:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._extra: dict[str, list[int]] = {}
        self._shown: dict[str, int] = {}

    def add(self, path: str, frame: int, message: str) -> None:
        if self._shown.get(path, 0) < FRAME_PROBLEMS_PER_FILE:
            self._shown[path] = self._shown.get(path, 0) + 1
            self.lines.append(f"{path} frame {frame}: {message}")
        else:
            self._extra.setdefault(path, []).append(frame)

    def finish(self) -> list[str]:
        for path, frames in self._extra.items():
            self.lines.append(
                f"{path}: {len(frames)} more frames with problems (frames {frames[0]}..{frames[-1]})"
            )
        return self.lines
