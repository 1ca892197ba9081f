"""`stackseg noise`: how much the headline metrics move when only the seed changes.

1. resolve the base revision to a commit; the estimate is cached per commit, so
2. look it up: the local copy (.stackseg/noise/<commit>.json, git-ignored), then the DVC
   remote (`stackseg-noise/<commit>.json` under the default remote's URL, read through
   DVC's own filesystem for that remote: same URL, endpoint and credentials as `dvc push`);
   no remote configured: the local copy only, and the command says so;
3. not cached (or `--force`, or another number of seeds): run the pipeline at the base
   revision once per seed (stackseg.report.seed_runs: queued `dvc exp run -S seed=...`),
   read the headline metrics of each run;
4. write the estimate (base commit, seeds, per-metric values, mean, std, min, max, the
   machine) locally and to the remote.

The runs are injected (`runner`) so tests can feed constructed per-seed results through the
same caching path.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackseg import atomic
from stackseg.errors import StacksegError
from stackseg.report.verdict import Headline, Spread
from stackseg.runtime import cpu_model

log = logging.getLogger(__name__)

LOCAL_DIR = Path(".stackseg/noise")
REMOTE_PREFIX = "stackseg-noise"  # beside DVC's own files/md5/ under the remote's URL
FORMAT = 1

# seeds -> {seed: {metric key: value}}
Runner = Callable[[list[int]], dict[int, dict[str, float | None]]]


@dataclass(frozen=True)
class NoiseEstimate:
    base_commit: str
    seeds: tuple[int, ...]
    values: dict[str, tuple[float, ...]]  # metric key -> one value per seed, in seed order
    machine: str = ""
    created: str = ""

    def spread(self, key: str) -> Spread | None:
        values = self.values.get(key)
        return Spread(values) if values else None

    def spreads(self) -> dict[str, Spread]:
        return {key: Spread(values) for key, values in self.values.items() if values}

    def to_json(self) -> dict[str, Any]:
        metrics = {}
        for key, spread in self.spreads().items():
            metrics[key] = {
                "values": list(spread.values),
                "mean": spread.mean,
                "std": spread.std,
                "min": spread.low,
                "max": spread.high,
            }
        return {
            "format": FORMAT,
            "base_commit": self.base_commit,
            "seeds": list(self.seeds),
            "metrics": metrics,
            "machine": self.machine,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, data: object, where: str) -> NoiseEstimate:
        """Parse a cached estimate; a malformed one is an error naming where it came from."""
        try:
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("format")
            seeds = tuple(int(s) for s in data["seeds"])
            values = {
                str(key): tuple(float(v) for v in entry["values"])
                for key, entry in data["metrics"].items()
            }
            if any(len(v) != len(seeds) for v in values.values()):
                raise ValueError("one value per seed")
            return cls(
                str(data["base_commit"]),
                seeds,
                values,
                str(data.get("machine", "")),
                str(data.get("created", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise StacksegError(
                f"{where}: not a noise estimate stackseg can read (format {FORMAT}): "
                "delete it and run `stackseg noise --force`"
            ) from None


def from_runs(
    base_commit: str, runs: dict[int, dict[str, float | None]], headlines: list[Headline]
) -> NoiseEstimate:
    """An estimate from each seed's headline metrics; a run without one is an error."""
    seeds = tuple(sorted(runs))
    values: dict[str, tuple[float, ...]] = {}
    for headline in headlines:
        got = [runs[seed].get(headline.key) for seed in seeds]
        missing = [seed for seed, value in zip(seeds, got, strict=True) if value is None]
        if missing:
            raise StacksegError(
                f"seed run(s) {missing} at {base_commit[:8]} wrote no `{headline.key}` "
                "to the evaluate metrics: check `dvc exp show` and the stage logs"
            )
        values[headline.key] = tuple(float(v) for v in got if v is not None)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    return NoiseEstimate(base_commit, seeds, values, cpu_model(), now)


class NoiseCache:
    """Estimates by base commit: a local directory, and the DVC remote when there is one."""

    def __init__(self, root: Path, remote: Any = None, remote_dir: str = ""):
        self.local_dir = root / LOCAL_DIR
        self.remote = remote  # a DVC FileSystem, or None
        self.remote_dir = remote_dir

    @property
    def where(self) -> str:
        if self.remote is None:
            return f"{LOCAL_DIR.as_posix()}/ (no DVC remote configured: local only)"
        return f"the DVC remote ({self._url(self.remote_dir)})"

    def _url(self, path: str) -> str:
        protocol = self.remote.protocol
        protocol = protocol[0] if isinstance(protocol, (tuple, list)) else protocol
        return f"{protocol}://{path}" if protocol and protocol != "local" else path

    def _remote_path(self, commit: str) -> str:
        return self.remote.join(self.remote_dir, f"{commit}.json")

    def get(self, commit: str) -> NoiseEstimate | None:
        local = self.local_dir / f"{commit}.json"
        if local.is_file():
            return NoiseEstimate.from_json(_load(local.read_bytes(), str(local)), str(local))
        if self.remote is None:
            return None
        path = self._remote_path(commit)
        try:
            raw = self.remote.cat_file(path)
        except FileNotFoundError:
            return None
        except Exception as exc:  # the remote's own errors: network, credentials, bucket
            raise StacksegError(
                f"could not read {self._url(path)} from the DVC remote: {_line(exc)}; "
                "check the remote (`dvc remote list`) and its credentials"
            ) from None
        estimate = NoiseEstimate.from_json(_load(raw, path), path)
        atomic.write_bytes(local, raw)  # fetched once, read locally afterwards
        log.info("noise estimate for %s fetched from the DVC remote", commit[:8])
        return estimate

    def put(self, estimate: NoiseEstimate) -> None:
        raw = (json.dumps(estimate.to_json(), indent=2) + "\n").encode()
        atomic.write_bytes(self.local_dir / f"{estimate.base_commit}.json", raw)
        if self.remote is None:
            return
        path = self._remote_path(estimate.base_commit)
        try:
            self.remote.makedirs(self.remote_dir, exist_ok=True)
            self.remote.pipe_file(path, raw)
        except Exception as exc:
            raise StacksegError(
                f"could not write {self._url(path)} to the DVC remote: "
                f"{_line(exc)} "
                f"(the estimate is kept in {LOCAL_DIR.as_posix()}/)"
            ) from None


def _load(raw: bytes, where: str) -> object:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise StacksegError(
            f"{where}: not valid JSON: delete it and run `stackseg noise --force`"
        ) from None


def _line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_cache(root: Path) -> NoiseCache:
    """The cache of the DVC project at root: its default remote when one is configured."""
    from dvc.config import NoRemoteError  # type: ignore[import-untyped]
    from dvc.repo import Repo  # type: ignore[import-untyped]

    try:
        with Repo(str(root)) as repo:
            remote = repo.cloud.get_remote()
    except NoRemoteError:
        return NoiseCache(root)
    except Exception as exc:  # a broken remote section of .dvc/config
        raise StacksegError(f"the DVC remote configuration is not usable: {_line(exc)}") from None
    return NoiseCache(root, remote.fs, remote.fs.join(remote.path, REMOTE_PREFIX))


def get_or_compute(
    cache: NoiseCache,
    base_commit: str,
    seeds: list[int],
    headlines: list[Headline],
    runner: Runner,
    force: bool = False,
) -> tuple[NoiseEstimate, bool]:
    """(estimate, computed): the cached one unless forced or made with other seeds."""
    if not force:
        cached = cache.get(base_commit)
        complete = cached is not None and all(h.key in cached.values for h in headlines)
        if cached is not None and complete and list(cached.seeds) == seeds:
            return cached, False
        if cached is not None:
            log.info("cached estimate for %s has other seeds or metrics: recomputing", base_commit)
    estimate = from_runs(base_commit, runner(seeds), headlines)
    cache.put(estimate)
    return estimate, True
