"""template.yaml as the code's tests see it: a resource's properties, the IAM actions a
function is granted, and whether an alarm watches a metric the code really emits (its
namespace, name and dimensions against the Embedded Metric Format lines Powertools
prints), so a renamed metric, dimension or permission cannot go unnoticed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

CORE = Path(__file__).resolve().parent.parent / "template.yaml"


def properties(name: str) -> dict[str, Any]:
    template, errors = decode(str(CORE))
    assert not errors and template is not None, errors
    props: dict[str, Any] = template["Resources"][name]["Properties"]
    return props


def granted(function: str) -> set[str]:
    """The actions a function's inline ``Policies`` statements allow."""
    actions: set[str] = set()
    for policy in properties(function)["Policies"]:
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions


def emitted(stdout: str) -> list[dict[str, Any]]:
    """Every metric in the EMF lines of ``stdout``: namespace, name, dimensions, values."""
    found = []
    for line in stdout.splitlines():
        if '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            names = {name for group in directive["Dimensions"] for name in group}
            for metric in directive["Metrics"]:
                found.append(
                    {
                        "namespace": directive["Namespace"],
                        "name": metric["Name"],
                        "dimensions": {n: record[n] for n in names},
                        "values": record[metric["Name"]],
                    }
                )
    return found


def seen_by(alarm_name: str, stdout: str) -> list[float]:
    """The values of the alarm's metric in ``stdout``, exactly as the alarm selects it."""
    props = properties(alarm_name)
    dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
    values: list[float] = []
    for metric in emitted(stdout):
        if (
            metric["namespace"] == props["Namespace"]
            and metric["name"] == props["MetricName"]
            and metric["dimensions"] == dimensions
        ):
            values.extend(metric["values"])
    return values


def dashboard_metrics() -> list[list[Any]]:
    """The metrics the operations dashboard's widgets plot, as CloudWatch lists them:
    namespace, name, then dimension name/value pairs (and rendering options last)."""
    body = properties("Dashboard")["DashboardBody"]["Fn::Sub"]
    return [m for w in json.loads(body)["widgets"] for m in w["properties"]["metrics"]]


def dashboard_metric(name: str, stdout: str) -> list[float]:
    """The values of the dashboard's custom metric `name` in ``stdout``, exactly as the
    dashboard selects it (namespace, name and dimensions)."""
    (metric,) = {(m[0], m[1], tuple(m[2:4])) for m in dashboard_metrics() if m[1] == name}
    namespace, _, (dimension, value) = metric
    return [
        v
        for found in emitted(stdout)
        if (found["namespace"], found["name"], found["dimensions"])
        == (namespace, name, {dimension: value})
        for v in found["values"]
    ]
