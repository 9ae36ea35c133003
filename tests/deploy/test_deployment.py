"""docker-compose.yml and the Dockerfile, checked statically (no Docker engine runs the tests)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from src.cli import devstack
from src.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_services_present() -> None:
    assert {"postgresql", "redis", "temporal", "temporal-ui", "migrate", "api", "worker"} <= set(
        SERVICES
    )


def test_ports() -> None:
    assert "8000-8001:8000" in SERVICES["api"]["ports"]
    # Operators' tools listen on the host's loopback only.
    assert SERVICES["temporal"]["ports"] == ["127.0.0.1:7233:7233"]
    assert SERVICES["temporal-ui"]["ports"] == ["127.0.0.1:8080:8080"]


def test_compose_file_follows_the_compose_specification() -> None:
    """Validated against the Compose Specification's JSON schema (compose-spec/compose-spec,
    schema/compose-spec.json, Apache-2.0, kept beside this test), which catches what YAML
    parsing cannot: misspelt keys, wrong types, unknown conditions."""
    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    validator.validate(COMPOSE)
    misspelt = copy.deepcopy(COMPOSE)
    misspelt["services"]["api"]["depend_on"] = misspelt["services"]["api"].pop("depends_on")
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(misspelt)


def test_temporal_is_set_up_as_temporal_recommends() -> None:
    """The plain server image after an admin-tools schema job (auto-setup is retired), a
    namespace job, and the app waiting for both; the scripts they run are in the repository."""
    images = {name: service.get("image", "") for name, service in SERVICES.items()}
    assert not any("auto-setup" in image for image in images.values())
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-schema"].startswith("temporalio/admin-tools:")
    assert SERVICES["temporal"]["depends_on"]["temporal-schema"] == {
        "condition": "service_completed_successfully"
    }
    for job in ("temporal-schema", "temporal-namespace"):
        for volume in SERVICES[job]["volumes"]:
            assert (ROOT / volume.split(":")[0]).is_file(), volume
    for app in ("api", "worker"):
        assert SERVICES[app]["depends_on"]["temporal-namespace"] == {
            "condition": "service_completed_successfully"
        }


def test_temporal_runs_on_postgresql() -> None:
    env = SERVICES["temporal"]["environment"]
    assert env["DB"].startswith("postgres") and env["POSTGRES_SEEDS"] == "postgresql"
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_temporal_runs_with_fairness_and_clean_worker_shutdown() -> None:
    """The same dynamic config as the dev server (``devstack``): fairness keyed by org, polls
    completed when a worker shuts down."""
    temporal = SERVICES["temporal"]
    path = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in temporal["volumes"]}
    config = yaml.safe_load((ROOT / mounted[path]).read_text())
    flags = {k: str(v[0]["value"]).lower() for k, v in config.items()}
    assert flags == devstack.DYNAMIC_CONFIG | devstack.FAIRNESS


def test_app_services_are_wired_to_the_same_backends() -> None:
    known = {name.upper() for name in Settings.model_fields}
    pg = SERVICES["postgresql"]["environment"]
    for name in ("api", "worker", "migrate"):
        env = SERVICES[name]["environment"]
        assert set(env) <= known, f"{name} sets variables the app does not read"
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
        url = env["DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://") and "@postgresql:5432/" in url
        assert f"{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@" in url
        assert url.endswith("/" + pg["POSTGRES_DB"])
        assert SERVICES[name]["build"] == "."
    assert SERVICES["api"]["environment"]["API_HOST"] == "0.0.0.0"
    # Several API replicas share one rate-limit budget per org through Redis.
    assert SERVICES["api"]["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert SERVICES["api"]["deploy"]["replicas"] >= 2
    assert SERVICES["worker"]["deploy"]["replicas"] >= 2
    assert SERVICES["api"]["command"] == ["loyalty", "api"]
    assert SERVICES["worker"]["command"] == ["loyalty", "worker"]


def test_dockerfile_installs_the_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "COPY src" in dockerfile
    assert 'CMD ["loyalty", "api"]' in dockerfile


def test_payloads_are_sealed_and_decoded_only_for_operators() -> None:
    """Every app process needs the payload keys (compose refuses to start without them), and
    the codec endpoint is published on the host's loopback only, for the UI's origin."""
    for name in ("api", "worker", "codec-server"):
        keys = SERVICES[name]["environment"]["PAYLOAD_KEYS"]
        assert keys.startswith("${LOYALTY_PAYLOAD_KEYS:?"), name
    codec = SERVICES["codec-server"]
    assert codec["command"] == ["loyalty", "codec-server"]
    assert codec["ports"] == ["127.0.0.1:8089:8089"]
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"].endswith(":8089")
    assert "http://localhost:8080" in codec["environment"]["CODEC_CORS_ORIGINS"]
