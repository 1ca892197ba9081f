"""docker-compose.yml and .dvc/config agree, and no secret can reach git (Docker does not run
here, so the compose file's structure is what is tested)."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from configobj import ConfigObj

from tests.conftest import ROOT

PINNED_TAG = re.compile(
    r"^[\w./-]+:RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z(@sha256:[0-9a-f]{64})?$"
)
VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")
CREDENTIAL_KEYS = {"access_key_id", "secret_access_key", "session_token", "credentialpath"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def remote() -> dict:
    config = ConfigObj(str(ROOT / ".dvc" / "config"))
    return {"name": config["core"]["remote"], **config[f'remote "{config["core"]["remote"]}"']}


def published(service: dict) -> dict[int, tuple[str, int]]:
    """container port -> (host address, host port) of a service's `ports:`."""
    mapping = {}
    for entry in service["ports"]:
        host, host_port, container_port = str(entry).rsplit(":", 2)
        mapping[int(container_port)] = (host, int(host_port))
    return mapping


def test_minio_service_is_pinned_healthchecked_and_persistent(compose):
    minio = compose["services"]["minio"]
    assert PINNED_TAG.match(minio["image"]), minio["image"]
    assert minio["image"].startswith("minio/minio:")
    assert minio["command"][:2] == ["server", "/data"]
    assert "--console-address" in minio["command"]
    assert minio["command"][minio["command"].index("--console-address") + 1] == ":9001"
    ports = published(minio)
    assert ports.keys() == {9000, 9001}  # S3 API and web console
    assert all(host == "127.0.0.1" for host, _ in ports.values())
    test = " ".join(minio["healthcheck"]["test"])
    assert "mc ready local" in test or "/minio/health/live" in test, test
    assert {"interval", "timeout", "retries"} <= minio["healthcheck"].keys()
    volume, target = minio["volumes"][0].split(":")[:2]
    assert target == "/data" and volume in compose["volumes"]  # a named volume, not a bind


def test_bucket_job_waits_for_healthy_minio_and_creates_the_remote_bucket(compose, remote):
    job = compose["services"]["createbucket"]
    assert PINNED_TAG.match(job["image"]) and job["image"].startswith("minio/mc:"), job["image"]
    assert job["depends_on"]["minio"]["condition"] == "service_healthy"
    assert job.get("restart") == "no"
    bucket = re.match(r"s3://([^/]+)/", remote["url"])[1]
    script = "\n".join(job["command"]) if isinstance(job["command"], list) else job["command"]
    assert f"mc mb --ignore-existing local/{bucket}" in script
    assert "http://minio:9000" in script


def test_committed_remote_points_at_the_compose_minio_without_credentials(compose, remote):
    assert remote["url"].startswith("s3://")
    api_host, api_port = published(compose["services"]["minio"])[9000]
    assert remote["endpointurl"] in (
        f"http://localhost:{api_port}",
        f"http://{api_host}:{api_port}",
    )
    assert not CREDENTIAL_KEYS & set(remote), "credentials must never be in .dvc/config"


def test_credentials_come_from_the_git_ignored_env_file(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    defined = {line.split("=", 1)[0] for line in example.splitlines() if re.match(r"^\w+=", line)}
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            assert VARIABLE.fullmatch(str(value)), f"{name}.{key} is a literal, not ${{VAR}}"
    used = set(VARIABLE.findall(text))
    assert used, "compose reads no variables"
    assert used <= defined, f".env.example lacks {used - defined}"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, timeout=30)
    assert ignored.returncode == 0, ".env is not git-ignored"
    example_ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".env.example"], cwd=ROOT, timeout=30
    )
    assert example_ignored.returncode == 1, ".env.example must be committable"
