"""The registry's git tags, through GTO (never hand-written tag names).

GTO writes annotated tags: `segmenter@v1.2.0` registers the model of a commit as a version,
`segmenter#prod#3` assigns a stage (the 3rd assignment to prod). `repo` is a path or a git
URL (GTO clones a URL into a temporary folder). Every GTO error becomes one RegistryError
line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stackseg.errors import StacksegError

# the first version when none is given: 0.x says "not yet stable" (GTO's own would be v0.0.1)
FIRST_VERSION = "v0.1.0"
BUMPS = ("major", "minor", "patch")


class RegistryError(StacksegError):
    """A registry request that cannot be met: unknown version or stage, existing version."""


@dataclass(frozen=True)
class Version:
    """One registered version: its commit, when, the registration message, its stages now."""

    version: str
    commit: str
    created_at: str
    message: str
    stages: list[str] = field(default_factory=list)


@contextmanager
def _gto_errors(what: str) -> Iterator[None]:
    from gto.exceptions import GTOException
    from scmrepo.exceptions import SCMError  # GTO's git layer: "... is not a git repository"

    try:
        yield
    except (GTOException, SCMError) as exc:
        # GTO's messages are one sentence; some end with a stray traceback-like tail
        text = " ".join(str(exc).split())
        raise RegistryError(f"{what}: {text}") from exc


def allowed_stages(repo: str) -> list[str]:
    """The stages listed in the repo's .gto (dev, staging, prod)."""
    from gto import api

    with _gto_errors("reading .gto"):
        return list(api.get_stages(repo, allowed=True))


def versions(repo: str, artifact: str) -> list[Version]:
    """Registered versions of `artifact`, newest first, with the stages each holds now."""
    from gto import api
    from gto.exceptions import ArtifactNotFound

    try:
        with _gto_errors(f"listing the versions of {artifact}"):
            shown: list[dict[str, Any]] = api.show(repo, artifact, registered_only=True)
    except RegistryError as exc:
        if isinstance(exc.__cause__, ArtifactNotFound):  # no tag names it yet
            return []
        raise
    holders = _stage_holders(repo, artifact)
    found = []
    for item in shown:
        if not item.get("registrations"):
            continue
        found.append(
            Version(
                version=item["version"],
                commit=item["commit_hexsha"],
                created_at=str(item["created_at"]),
                message=item["registrations"][0].get("message", ""),
                stages=[stage for stage, version in holders.items() if version == item["version"]],
            )
        )
    return found


def _stage_holders(repo: str, artifact: str) -> dict[str, str]:
    """stage -> the version it holds now, by GTO's `which` (the latest assignment; `show`
    breaks ties between assignments made in the same second the other way)."""
    from gto import api

    holders = {}
    with _gto_errors("reading the stages"):
        # a repo whose .gto lists no stages allows any: then the ones its tags use
        stages = allowed_stages(repo) or list(api.get_stages(repo, used=True))
    for stage in stages:
        with _gto_errors(f"finding the version of {artifact} in {stage}"):
            current = api.find_versions_in_stage(repo, artifact, stage)
        # GTO answers one VStage, a list of them, or None
        held = current[0] if isinstance(current, list) and current else current
        if held:
            holders[stage] = str(held.version)
    return holders


def version_of_commit(repo: str, artifact: str, commit: str) -> Version | None:
    return next((v for v in versions(repo, artifact) if v.commit == commit), None)


def find_version(repo: str, artifact: str, version: str) -> Version:
    """The registered `version`; RegistryError listing the known ones if there is none."""
    known = versions(repo, artifact)
    for item in known:
        if item.version == version:
            return item
    listed = ", ".join(v.version for v in known) or "none registered yet"
    raise RegistryError(
        f"{artifact} has no version {version} (versions: {listed}); see `stackseg models`"
    )


def in_stage(repo: str, artifact: str, stage: str) -> Version:
    """The version currently assigned to `stage`; RegistryError if none, or if .gto does not
    list the stage."""
    stages = allowed_stages(repo)
    if stages and stage not in stages:
        raise RegistryError(f"unknown stage {stage!r}: .gto allows {', '.join(stages)}")
    for item in versions(repo, artifact):
        if stage in item.stages:
            return item
    raise RegistryError(
        f"no version of {artifact} is in stage {stage}: assign one with "
        f"`stackseg register --stage {stage}` (see `stackseg models`)"
    )


def next_version(repo: str, artifact: str, bump: str) -> str:
    """The latest registered version bumped (major, minor or patch); FIRST_VERSION if none."""
    from gto.versions import SemVer

    known = versions(repo, artifact)
    if not known:
        return FIRST_VERSION
    latest = max(SemVer(v.version) for v in known)  # GTO orders them as semver does
    bumped = latest.bump(
        bump_major=bump == "major", bump_minor=bump == "minor", bump_patch=bump == "patch"
    )
    return str(bumped.version)


def register(repo: str, artifact: str, commit: str, version: str, message: str) -> str:
    """Tag `commit` as `artifact@version` (annotated, `message`); returns the tag name."""
    from gto import api

    with _gto_errors(f"registering {artifact} {version}"):
        event = api.register(repo, artifact, commit, version=version, message=message)
    return str(event.tag)


def assign(repo: str, artifact: str, version: str, stage: str, message: str) -> str:
    """Tag the assignment of `version` to `stage` (artifact#stage#N); returns the tag name."""
    from gto import api

    with _gto_errors(f"assigning {artifact} {version} to {stage}"):
        event = api.assign(repo, artifact, stage, version=version, message=message)
    return str(event.tag)
