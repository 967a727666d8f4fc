"""What ships for Prometheus and Grafana: the alert rules pass `promtool test rules` (the
promtool built from the Prometheus module pinned in tools/promtool), and every query of the
rules and the dashboard is valid PromQL over series the operator really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripts import chart

from hopper_operator.controller.metrics import Metrics

HERE = Path(__file__).parent
RULE_TESTS = HERE / "alerts_test.yaml"
DASHBOARD = chart.CHART / "dashboards" / "hopper-operator.json"
# Rendered with every rule on (hopper_leader's only with leader election).
RULE_VALUES = ("--set", "prometheusRule.enabled=true", "--set", "leaderElection.enabled=true")
# Grafana's variables, replaced by what they stand for to check the PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "hopper-system", "$job": "x"}
# Series Prometheus makes itself, not the operator.
PROMETHEUS_SERIES = {"up"}
# PromQL words that are followed by `{` or `(` but are no metric.
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{")


@pytest.fixture(scope="module")
def promtool() -> Path:
    return chart.tool("promtool")


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    docs = chart.documents(chart.template(*RULE_VALUES))
    (rule,) = [doc for doc in docs if doc["kind"] == "PrometheusRule"]
    return {"groups": rule["spec"]["groups"]}


def promtool_run(promtool: Path, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [str(promtool), *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_alert_rules_pass_their_unit_tests(
    promtool: Path, rules: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    promtool_run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    output = promtool_run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert "SUCCESS" in output, output


def test_every_alert_has_a_case_where_it_fires(rules: dict[str, Any]) -> None:
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }
    assert fired == alerts


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["query"]["query"])
    return queries


def test_dashboard_queries_are_valid_promql(promtool: Path, tmp_path: Path) -> None:
    """Each panel's query, Grafana's variables substituted, as a recording rule that
    `promtool check rules` parses (label_values() is Grafana's, not PromQL: its argument is)."""
    expressions = []
    for query in _dashboard_queries():
        expression = query
        for variable, value in GRAFANA_VARIABLES.items():
            expression = expression.replace(variable, value)
        label_values = re.fullmatch(r"label_values\((.*), \w+\)", expression)
        expressions.append(label_values[1] if label_values else expression)
    records = [{"record": f"check:query_{i}", "expr": expr} for i, expr in enumerate(expressions)]
    (tmp_path / "dashboard.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]})
    )
    promtool_run(promtool, "check", "rules", "dashboard.yaml", cwd=tmp_path)


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_names() -> set[str]:
    """Every series name the operator's registry exposes, suffixes included (a family with
    labels has no samples before its first use, so names come from the family's type)."""
    metrics = Metrics(instances=list)
    return {
        family.name + suffix
        for family in metrics.registry.collect()
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def test_rules_and_dashboard_query_only_exported_series(rules: dict[str, Any]) -> None:
    queries = _dashboard_queries() + [
        rule["expr"] for group in rules["groups"] for rule in group["rules"]
    ]
    used = {name for query in queries for name in SELECTOR.findall(query)}
    unknown = used - exported_names() - PROMETHEUS_SERIES
    assert not unknown, f"queried but never exported: {sorted(unknown)}"
    # And the dashboard shows the series an operations team looks at first.
    shown = {name for query in _dashboard_queries() for name in SELECTOR.findall(query)}
    assert {
        "hopper_instances",
        "controller_runtime_reconcile_total",
        "workqueue_depth",
        "process_resident_memory_bytes",
    } <= shown
