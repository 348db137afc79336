"""Attack: a member rewrites an AWS product's finding with ``BatchUpdateFindings``.

In the member, ``securityhub:BatchUpdateFindings`` may set the top-level ``Severity`` and
``Types`` of any finding, GuardDuty's and Security Hub's own included; once it has, the
provider's later updates no longer change them (they go to ``FindingProviderFields``,
which only the provider writes). So one call lowers a finding to INFORMATIONAL or gives
it a harmless type, and every event about it from then on (each re-opening of a failed
control, each update) says so. What remedy decides from must be the provider's word.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from conftest import CONFORMANCE, load_json
from remedy.model import Severity
from remedy.normalise import normalise
from remedy.policy import decide, load_policy

SHIPPED = Path(__file__).resolve().parent.parent / "policies"
GUARDDUTY = "securityhub-guardduty-ec2-sshbruteforce.json"
TYPE = "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"


def provided(severity: str) -> dict[str, Any]:
    """The conformance event as Security Hub sends it today: the provider's fields too."""
    event: dict[str, Any] = load_json(CONFORMANCE / GUARDDUTY)
    item = event["detail"]["findings"][0]
    assert item["Types"] == [TYPE]
    item["Severity"] = {"Label": severity, "Normalized": 70}
    item["FindingProviderFields"] = {"Severity": {"Label": severity}, "Types": [TYPE]}
    return event


def rewritten(event: dict[str, Any]) -> dict[str, Any]:
    """The same finding after the member's BatchUpdateFindings."""
    out = copy.deepcopy(event)
    item = out["detail"]["findings"][0]
    item["Severity"] = {"Label": "INFORMATIONAL", "Normalized": 0}
    item["Types"] = ["Software and Configuration Checks/Industry and Regulatory Standards"]
    item["UpdatedAt"] = "2030-01-01T00:00:00Z"
    return out


def test_severity_and_types_a_member_rewrote_are_not_what_remedy_decides_from() -> None:
    policy = load_policy(SHIPPED)
    event = provided("HIGH")
    (real,) = normalise(event)
    (attacked,) = normalise(rewritten(event))
    assert (real.severity, real.type) == (Severity.HIGH, TYPE)
    assert (attacked.severity, attacked.type, attacked.key) == (
        Severity.HIGH,
        TYPE,
        real.key,
    )
    assert decide(attacked, policy) == decide(real, policy)


def test_without_provider_fields_the_top_level_ones_still_count() -> None:
    """Payloads from before FindingProviderFields (the conformance corpus) read as before."""
    event: dict[str, Any] = load_json(CONFORMANCE / GUARDDUTY)
    (finding,) = normalise(event)
    assert (finding.severity, finding.type) == (Severity.MEDIUM, TYPE)
