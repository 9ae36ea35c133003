"""Prometheus config, alert rules and the Grafana dashboard: valid, wired into compose, and
querying only metrics the service exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from src import metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "loyalty.json"
SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
# Debian's `prometheus` package ships it; .ci/run installs it when missing.
promtool = pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed")


def exported() -> set[str]:
    """Every series name src/metrics.py exposes."""
    names: set[str] = set()
    for metric in vars(metrics).values():
        if isinstance(metric, Counter):
            names |= {f"{metric._name}_total", f"{metric._name}_created"}
        elif isinstance(metric, Histogram):
            names |= {f"{metric._name}_{s}" for s in ("bucket", "count", "sum", "created")}
        elif isinstance(metric, Gauge):
            names.add(metric._name)
    return names


def queried(text: str) -> set[str]:
    return set(re.findall(r"\bloyalty_[a-z_]+", text))


@promtool
def test_promtool_accepts_the_config_and_the_rules() -> None:
    for args in (
        ["check", "config", str(PROMETHEUS / "prometheus.yml")],
        ["check", "rules", str(PROMETHEUS / "alerts.yml")],
    ):
        checked = subprocess.run(["promtool", *args], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_and_dashboard_query_only_exported_metrics() -> None:
    rules = (PROMETHEUS / "alerts.yml").read_text()
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = queried(rules) | queried("\n".join(exprs))
    assert used, "nothing queried"
    assert used <= exported(), used - exported()
    alerts = {r["alert"] for g in yaml.safe_load(rules)["groups"] for r in g["rules"]}
    assert {"LoyaltyBacklogAging", "LoyaltyFailuresSpike", "LoyaltyRelayStartFailures"} <= alerts
    assert "LoyaltyWorkerDown" in alerts


def test_compose_runs_prometheus_and_grafana_on_loopback() -> None:
    assert SERVICES["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert SERVICES["grafana"]["ports"] == ["127.0.0.1:3000:3000"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in SERVICES["prometheus"]["volumes"]
    scraped = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"] for job in scraped}
    assert jobs == {"loyalty-api", "loyalty-worker", "temporal-sdk", "temporal-server"}
    assert SERVICES["temporal"]["environment"]["PROMETHEUS_ENDPOINT"] == "0.0.0.0:9090"
    # The app's metrics listeners are reachable on the internal network, published nowhere.
    for name in ("api", "worker"):
        assert not any(
            str(p).endswith((":9100", ":9101", ":9102")) for p in SERVICES[name].get("ports", [])
        )
