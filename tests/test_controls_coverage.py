"""The control remediations as a user meets them: the coverage page says what the registry
says, the shipped policy has a rule per control with the declared default mode, and
`remedy explain` names the remediation and its mode for a finding of each control, in
both Security Hub formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import POLICIES, ROOT
from control_cases import CASES
from control_events import asff_event, ocsf_event
from remedy.actions.controls import coverage
from remedy.actions.controls.base import ControlRemediation
from remedy.actions.registry import actions
from remedy.model import Action
from remedy.normalise import normalise
from remedy.policy import decide, load_policy

PAGE = ROOT / "docs" / "controls.md"
CONTROLS = sorted(
    (control, cls)
    for cls in actions().values()
    if issubclass(cls, ControlRemediation)
    for control in cls.controls
)
ACCOUNT = "111111111111"  # an account of the shipped example policy


def test_page_is_generated_from_the_registry() -> None:
    assert PAGE.read_text(encoding="utf-8") == coverage.render(), (
        "docs/controls.md disagrees with the registry: run "
        "`python -m remedy.actions.controls.coverage > docs/controls.md`"
    )


def test_page_lists_every_control_once_with_its_remediation() -> None:
    listed = [row[:3] for row in coverage.rows()]
    assert len(listed) == len({row[0] for row in listed}) >= 25
    assert {(c, f"`{cls.name}`") for c, cls in CONTROLS} == {(r[0], r[1]) for r in listed}


def test_every_remediation_has_cases_using_every_declared_permission() -> None:
    used: dict[str, set[str]] = {}
    for case in CASES:
        assert case.permissions <= case.action.permissions, case.name
        used.setdefault(case.action.name, set()).update(case.permissions)
    assert used == {cls.name: set(cls.permissions) for _, cls in CONTROLS}


@pytest.mark.parametrize("control,cls", CONTROLS, ids=[c for c, _ in CONTROLS])
@pytest.mark.parametrize("fmt", ["asff", "ocsf"])
def test_shipped_policy_fixes_each_control_in_its_default_mode(
    control: str, cls: type[ControlRemediation], fmt: str
) -> None:
    policy = load_policy(POLICIES)
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"
    event = (
        asff_event(ACCOUNT, control, "AwsSqsQueue", arn)
        if fmt == "asff"
        else ocsf_event(ACCOUNT, control, "AWS::SQS::Queue", arn)
    )
    [found] = normalise(event)
    decision = decide(found, policy)
    assert (decision.action, decision.remediation, decision.rule) == (
        cls.mode,
        cls.name,
        f"fix-{cls.name}",
    )


def test_automatic_only_where_the_fix_cannot_break_an_application() -> None:
    automatic = {c for c, cls in CONTROLS if cls.mode is Action.QUARANTINE}
    assert automatic == {
        "S3.1", "S3.5", "EC2.1", "RDS.1", "SSM.4",  # public snapshots and documents, BPA, TLS
        "SQS.1", "KMS.4", "DynamoDB.2", "ECR.1", "CloudTrail.4",
    }  # fmt: skip


def test_explain_names_the_remediation_and_its_mode(tmp_path: Path) -> None:
    files = []
    for control, _ in CONTROLS:
        path = tmp_path / f"{control}.json"
        path.write_text(
            json.dumps(asff_event(ACCOUNT, control, "AwsAccount", f"AWS::::Account:{ACCOUNT}"))
        )
        files.append(str(path))
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("remedy")),
            "explain",
            "--policy",
            str(POLICIES),
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    events = json.loads(done.stdout)["events"]
    got = {
        e["findings"][0]["parameters"]["control_id"]: (
            e["findings"][0]["decision"]["remediation"],
            e["findings"][0]["decision"]["action"],
        )
        for e in events
    }
    assert got == {control: (cls.name, cls.mode.value) for control, cls in CONTROLS}
