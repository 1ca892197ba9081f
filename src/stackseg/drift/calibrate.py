"""Per-metric thresholds calibrated by bootstrapping the reference.

Folklore cut-offs (PSI 0.1/0.25, KS p < 0.05) assume independent draws and a given bin count;
frames of one stack are not independent and our histograms have `drift.bins` bins. So the
thresholds come from the data: for each sample size n of SIZES, `bootstrap` times, a sample
of n frames (whole stacks, drawn with replacement, until n frames) is scored against a
resample of the reference of its own size (the reference itself is a sample too) made of
the stacks the sample did not draw (new data comes from new stacks; all stacks when the
sample drew over half of them). The
scores of these no-drift samples give each metric's null distribution. The thresholds are
set jointly: at the common quantile level where the fraction of resamples with ANY metric
above its threshold is `alpha` -- alpha is the false-alarm rate of the verdict, not of one
metric. Seeded per size (numpy SeedSequence): the same seed gives the same thresholds.
"""

from __future__ import annotations

import numpy as np

from stackseg.drift.metrics import scores
from stackseg.drift.profile import Profile
from stackseg.progress import progress

# Sample sizes (frames) the thresholds are calibrated at; compare interpolates between them
# in log(n) and uses the largest's beyond it (thresholds fall with n: conservative).
SIZES: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


class Groups:
    """The frames of each group (stack), for drawing whole groups fast (vectorised)."""

    def __init__(self, groups: np.ndarray) -> None:
        self.order = np.argsort(groups, kind="stable")
        _, self.starts, self.sizes = np.unique(
            groups[self.order], return_index=True, return_counts=True
        )
        # each frame's group number (0 .. number of groups - 1)
        self.number = np.empty(len(groups), dtype=np.int64)
        self.number[self.order] = np.repeat(np.arange(len(self.sizes)), self.sizes)

    def sample(
        self, size: int, rng: np.random.Generator, among: np.ndarray | None = None
    ) -> np.ndarray:
        """Indices of `size` frames: whole groups drawn with replacement (from the group
        numbers `among`, default all), the last one cut."""
        pool = np.arange(len(self.sizes)) if among is None else among
        mean = float(np.mean(self.sizes[pool]))
        draws: list[np.ndarray] = []
        total = 0
        while total < size:  # one draw is enough as a rule; an unlucky one draws again
            draw = pool[rng.integers(len(pool), size=int(size / mean) + 2)]
            draws.append(draw)
            total += int(self.sizes[draw].sum())
        chosen = np.concatenate(draws)
        lengths = self.sizes[chosen]
        ends = np.cumsum(lengths)
        chosen = chosen[: int(np.searchsorted(ends, size)) + 1]
        lengths = lengths[: len(chosen)]
        # the frames of each chosen group, in a row: start of its group + 0, 1, ...
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return self.order[np.repeat(self.starts[chosen], lengths) + offsets][:size]


def group_sample(groups: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `size` frames of whole groups (Groups.sample, for one draw)."""
    return Groups(groups).sample(size, rng)


def null_scores(reference: Profile, size: int, bootstrap: int, seed: int) -> dict[str, np.ndarray]:
    """Each metric's `bootstrap` scores of no-drift samples of `size` frames."""
    groups = Groups(
        reference.groups if reference.groups is not None else np.arange(reference.frames)
    )
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(size,)))
    rows: list[dict[str, float]] = []
    for _ in range(bootstrap):
        pick = groups.sample(size, rng)
        # new data comes from stacks the reference has not seen: the base is resampled
        # from the other stacks while at least half of them are left
        rest = np.setdiff1d(np.arange(len(groups.sizes)), groups.number[pick])
        among = rest if len(rest) * 2 >= len(groups.sizes) else None
        base = groups.sample(reference.frames, rng, among)
        rows.append(scores(reference.take(pick), reference.take(base)))
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}


def joint_thresholds(null: dict[str, np.ndarray], alpha: float) -> dict[str, float]:
    """Thresholds at the common quantile level q where P(any metric > its threshold) = alpha
    over the resamples (max-statistic calibration)."""
    names = list(null)
    table = np.stack([null[name] for name in names], axis=1)  # (resamples, metrics)
    count = len(table)
    # each score's empirical CDF level among its metric's scores (ties: the highest rank)
    levels = np.stack(
        [np.searchsorted(np.sort(col), col, side="right") / count for col in table.T], axis=1
    )
    q = float(np.quantile(levels.max(axis=1), 1.0 - alpha, method="higher"))
    return {
        name: float(np.quantile(table[:, k], q, method="higher")) for k, name in enumerate(names)
    }


def calibrate(
    reference: Profile,
    alpha: float,
    bootstrap: int,
    seed: int,
    label: str = "drift thresholds",
    show: bool = True,
) -> dict[str, list[float]]:
    """metric -> its threshold at each of SIZES (a list aligned with SIZES)."""
    table: dict[str, list[float]] = {}
    with progress(len(SIZES), label, "size", enabled=show) as bar:
        for size in SIZES:
            for name, value in joint_thresholds(
                null_scores(reference, size, bootstrap, seed), alpha
            ).items():
                table.setdefault(name, []).append(value)
            bar.update(1)
    return table


def threshold_at(values: list[float], frames: int) -> float:
    """The threshold for `frames` frames: interpolated in log(n) between SIZES."""
    if frames >= SIZES[-1]:
        return float(values[-1])
    return float(np.interp(np.log(max(frames, 1)), np.log(SIZES), values))
