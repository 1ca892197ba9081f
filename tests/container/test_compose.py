"""docker-compose.yml (no Docker here: read as YAML): the `api` service builds the Dockerfile's
default target, publishes its port on 127.0.0.1 only, checks /ready, and takes the API key from
the environment (.env, git-ignored), never from the image or the repository."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.conftest import ROOT
from tests.container.dockerfile import parse


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def api(compose) -> dict:
    return compose["services"]["api"]


def test_every_published_port_is_on_loopback(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"service {name}: {port} is public"


def test_api_builds_the_dockerfiles_baked_target_beside_minio(compose, api):
    assert {"minio", "api"} <= set(compose["services"])
    assert api["build"]["context"] == "."
    names = [stage.name for stage in parse((ROOT / "Dockerfile").read_text())]
    assert api["build"]["target"] in names and api["build"]["target"] == names[-1]
    # a profile: `docker compose up -d` (docs/remote.md) still starts MinIO alone, without
    # needing a trained model to build the image
    assert api["profiles"] == ["api"]


def test_api_publishes_the_exposed_port(api):
    exposed = [
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("EXPOSE")
    ]
    assert exposed == ["EXPOSE 8000"]
    assert api["ports"] == ["127.0.0.1:8000:8000"]


def test_api_healthcheck_asks_ready(api):
    check = api["healthcheck"]
    assert check["test"][0] == "CMD"
    assert "http://127.0.0.1:8000/ready" in " ".join(check["test"])
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)


def test_api_key_comes_from_the_environment_named_in_params(api):
    key_env = yaml.safe_load((ROOT / "params.yaml").read_text())["serve"]["api_key_env"]
    value = api["environment"][key_env]
    # compose substitutes it from the shell or .env and refuses to start without it
    assert re.fullmatch(rf"\$\{{{key_env}:\?[^}}]+\}}", value)
    example = (ROOT / ".env.example").read_text()
    assert re.search(rf"^{key_env}=", example, re.M)
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be git-ignored"
