"""The Docker files keep their promises: dependencies cached apart from the source, the HTTP side
reachable from outside the container, a health check on /healthz, the database password given to
the database alone, and an example config that loads as it is shipped."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from hub.config.loader import load_config

REPO = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())  # continuation lines joined
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    steps = _instructions()
    copies = [(i, args) for i, (op, args) in enumerate(steps) if op == "COPY"]
    runs = [(i, args) for i, (op, args) in enumerate(steps) if op == "RUN"]
    deps = next(i for i, args in runs if "-r /tmp/requirements.txt" in args)
    assert [args for i, args in copies if i < deps] == ["pyproject.toml ./"]  # nothing else before
    assert any(i > deps and args.startswith("hub") for i, args in copies)
    package = next(i for i, args in runs if "pip install --no-deps ." in args)
    assert package > max(i for i, _ in copies)


def test_the_daemon_listens_on_every_address_and_the_healthcheck_reads_healthz() -> None:
    steps = dict(_instructions())
    assert '"--http-host", "0.0.0.0"' in steps["CMD"] and '"--http-port", "8080"' in steps["CMD"]
    assert "/healthz" in steps["HEALTHCHECK"] and "8080" in steps["HEALTHCHECK"]
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    command = compose["services"]["hub"]["command"]
    assert command[command.index("--http-host") + 1] == "0.0.0.0"
    grace = compose["services"]["hub"]["stop_grace_period"]
    assert int(grace.rstrip("s")) > 8 + 2  # the daemon's 8 s for runs in flight, and its HTTP stop


def test_only_the_database_gets_its_password() -> None:
    services = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    hub, db = services["hub"], services["db"]
    assert "POSTGRES_PASSWORD" not in str(hub) and "POSTGRES_PASSWORD" not in str(hub.get("environment", {}))
    assert not set(hub.get("env_file", [])) & set(db.get("env_file", []))  # no shared secrets file
    assert "POSTGRES_PASSWORD" not in str(db.get("environment", {}))  # from db.env, never interpolated


def test_the_example_config_loads_with_its_example_variables() -> None:
    env = {}
    for line in (REPO / "config" / "omnihub.example.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    config = load_config(REPO / "config" / "omnihub.example.yaml", env=env)
    assert config.database_url() == "sqlite:////data/omnihub.db"
    assert set(config.connectors) == {"shop", "web", "wms"} and "stock" in config.jobs
    assert "omnihub.example.yaml" in (REPO / "Dockerfile").read_text()
    assert "omnihub.example.env" in (REPO / "Dockerfile").read_text()


def test_the_distributed_profile_adds_two_workers_and_a_persistent_broker_and_nothing_by_default() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert default == {"hub", "db"}  # `docker compose up` alone starts what it always did
    worker, broker = services["worker"], services["redis"]
    assert worker["profiles"] == broker["profiles"] == ["distributed"]
    assert worker["command"][-3:] == ["worker", "--concurrency", "2"]
    assert worker["deploy"]["replicas"] == 2
    assert "POSTGRES_PASSWORD" not in str(worker) and worker["env_file"] == ["hub.env"]
    assert "--appendonly" in broker["command"] and broker["volumes"] == ["redis-data:/data"]
    # the image has Celery, so the same image serves the hub and the workers
    assert any("['distributed']" in args for op, args in _instructions() if op == "RUN")
