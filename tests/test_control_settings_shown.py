"""An approver sees the control's parameters a fix will use: IAM.3 and IAM.8 deactivate
keys older than the member's own setting (``maxAccessKeyAge``), which the member chooses,
so the Slack message and the owners' email say it before anyone approves."""

from __future__ import annotations

import json

from control_events import asff_event, ocsf_event
from notify_support import entry_for
from remedy.model import Finding
from remedy.normalise import normalise
from remedy.notify.facts import control_settings, facts_of
from remedy.notify.owners import render_text
from remedy.notify.slack_message import build_message

ACCOUNT = "111111111111"
ARN = f"arn:aws:iam::{ACCOUNT}:user/deploy"
SHOWN = "control parameters: maxAccessKeyAge 1"


def iam3(fmt: str, value: str | None) -> Finding:
    if fmt == "asff":
        event = asff_event(ACCOUNT, "IAM.3", "AwsIamUser", ARN)
        if value is not None:
            event["detail"]["findings"][0]["Compliance"]["SecurityControlParameters"] = [
                {"Name": "maxAccessKeyAge", "Value": [value]}
            ]
    else:
        event = ocsf_event(ACCOUNT, "IAM.3", "AWS::IAM::User", "AIDAEXAMPLEUSERID0001", ARN)
        if value is not None:
            event["detail"]["findings"][0]["compliance"]["control_parameters"] = [
                {"name": "maxAccessKeyAge", "value": value}
            ]
    (finding,) = normalise(event)
    return finding


def test_the_slack_message_and_the_email_show_the_members_threshold() -> None:
    for fmt in ("asff", "ocsf"):
        entry = entry_for(iam3(fmt, "1"))
        facts = facts_of(entry, "payments")
        assert facts.found == SHOWN
        assert f"*Found*\\n{SHOWN}" in json.dumps(build_message(entry, "payments").blocks_json())
        assert f"Found:     {SHOWN}" in render_text(facts).splitlines()


def test_nothing_is_shown_when_the_finding_carries_no_parameters() -> None:
    assert facts_of(entry_for(iam3("asff", None)), "payments").found == ""


def test_a_long_member_written_value_is_cut() -> None:
    shown = control_settings({"control_parameters": {"maxAccessKeyAge": ["9" * 500]}})
    assert len(shown) == 200
    assert shown.startswith("control parameters: maxAccessKeyAge 999") and shown.endswith("…")
