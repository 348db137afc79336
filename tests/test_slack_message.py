"""The Slack message for one entry: content, links, escaping, buttons, Block Kit limits."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient

import notify_support
from conftest import CONFORMANCE
from notify_support import finding_from
from remedy.devtools.slack_server import SlackServer, block_problems
from remedy.ledger.base import Entry, HistoryItem, State
from remedy.model import Resource, ResourceKind
from remedy.normalise import normalise
from remedy.notify.facts import found_summary
from remedy.notify.slack_message import (
    DISMISS_ACTION,
    QUARANTINE_ACTION,
    build_message,
    escape,
    fit,
)

entry_for = functools.partial(notify_support.entry_for, rule="card-data")


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text string in the blocks, wherever it sits."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "text" and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return out


def links(blocks: list[dict[str, Any]]) -> dict[str, str]:
    found = {}
    for text in texts(blocks):
        for url, label in re.findall(r"<(https://[^|>]+)\|([^>]+)>", text):
            found[label] = url
    return found


def test_message_tells_every_fact_of_a_macie_finding() -> None:
    event = json.loads(
        (CONFORMANCE / "macie-sensitive-reveal-csv-multiple.json").read_text("utf-8")
    )
    finding = normalise(event)[0]
    message = build_message(entry_for(finding), "macie-reveal-sample")
    blocks = message.blocks_json()
    everything = "\n".join(texts(blocks))

    assert blocks[0]["type"] == "header"
    assert "HIGH" in blocks[0]["text"]["text"]
    assert "Waiting for approval" in blocks[0]["text"]["text"]
    assert "macie-reveal-sample (555555555555)" in everything
    assert "us-east-1" in everything
    assert "s3://DOC-EXAMPLE-BUCKET1/macie-workshop/sample-data.csv" in everything
    assert "SensitiveData:S3Object/Multiple" in everything
    assert "The S3 object contains multiple types of sensitive information." in everything
    assert "30 credit card numbers, 136 personal data items" in everything
    assert "approve (rule card-data)" in everything
    assert message.text.startswith("[HIGH] Waiting for approval: SensitiveData:S3Object/Multiple")
    found = links(blocks)
    assert found["Finding in Macie"] == (
        "https://us-east-1.console.aws.amazon.com/macie/home?region=us-east-1"
        "#findings?itemId=00000000000000000000000000000001"
    )
    assert found["Object in S3"].startswith(
        "https://us-east-1.console.aws.amazon.com/s3/object/DOC-EXAMPLE-BUCKET1?region=us-east-1"
    )


def _object_key_from(url: str) -> str:
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert len(query["prefix"]) == 1
    return query["prefix"][0]


def test_s3_link_opens_the_exact_key_whatever_it_holds() -> None:
    for event, key in [
        ("macie-classification-personal.json", "people/Zoë Müller/contract #2 ?draft.txt"),
        ("macie-classification-financial.json", "exports/2024/Q3 card+payments%20(final).csv"),
    ]:
        finding = finding_from(event)
        assert finding.s3_objects[0].key == key
        url = links(build_message(entry_for(finding), "x").blocks_json())["Object in S3"]
        assert _object_key_from(url) == key
        # Nothing in the URL can end Slack's <url|label> early or start a fragment.
        assert not set("|<> #") & set(url)


def test_security_hub_link_names_the_finding_id() -> None:
    finding = finding_from("securityhub-macie-personal-copy.json")
    url = links(build_message(entry_for(finding), "prod-payments").blocks_json())[
        "Finding in Security Hub"
    ]
    fragment = unquote(unquote(urlsplit(url).fragment))
    assert fragment.endswith(f"Id=\\operator\\:EQUALS\\:{finding.id}")


def test_text_from_findings_is_escaped() -> None:
    hostile = dataclasses.replace(
        finding_from("securityhub-guardduty-ec2-command-and-control.json"),
        title="<!channel> please <https://evil.invalid|click here> & approve",
    )
    blocks = build_message(
        entry_for(hostile, action="notify", state=State.NOTIFIED), "a"
    ).blocks_json()
    everything = "\n".join(texts(blocks))
    assert (
        "&lt;!channel&gt; please &lt;https://evil.invalid|click here&gt; &amp; approve"
        in everything
    )
    assert "Backdoor:EC2/C&amp;CActivity.B" in everything
    assert "<!channel>" not in everything
    assert "evil.invalid|" not in "".join(re.findall(r"<[^>]*>", everything))


def test_buttons_only_while_an_approval_waits() -> None:
    finding = finding_from("macie-classification-financial.json")

    def actions(entry: Entry) -> list[dict[str, Any]]:
        return [b for b in build_message(entry, "x").blocks_json() if b["type"] == "actions"]

    waiting = actions(entry_for(finding))
    assert len(waiting) == 1
    buttons = waiting[0]["elements"]
    assert [b["action_id"] for b in buttons] == [QUARANTINE_ACTION, DISMISS_ACTION]
    assert [b["value"] for b in buttons] == [finding.key, finding.key]
    assert [b["text"]["text"] for b in buttons] == ["Quarantine", "Dismiss"]
    assert actions(entry_for(finding, state=State.APPROVED)) == []
    assert actions(entry_for(finding, state=State.NOTIFIED, action="notify")) == []


def test_history_says_who_did_what_and_when() -> None:
    finding = finding_from("macie-classification-financial.json")
    entry = entry_for(
        finding,
        state=State.QUARANTINED,
        history=(
            HistoryItem("2024-10-02T10:20:01Z", "remedy", "RECEIVED", "PENDING_APPROVAL"),
            HistoryItem(
                "2024-10-02T10:25:00Z",
                "slack:U0ANALYTIC1",
                "PENDING_APPROVAL",
                "APPROVED",
                "approved in Slack by dana",
            ),
            HistoryItem("2024-10-02T10:25:02Z", "remediator", "QUARANTINING", "QUARANTINED"),
        ),
        attrs={
            "decided_by": {"id": "U0ANALYTIC1", "name": "dana", "action": "approved"},
            "destination": {"bucket": "remedy-quarantine-222222222222-eu-west-1", "key": "k"},
        },
    )
    blocks = build_message(entry, "staging-analytics").blocks_json()
    everything = "\n".join(texts(blocks))
    assert "2024-10-02T10:25:00Z · Approved: quarantine starting · by <@U0ANALYTIC1>" in everything
    assert "moved to s3://remedy-quarantine-222222222222-eu-west-1/k" in everything
    assert "Quarantined copy" in links(blocks)


def test_found_summary_per_category() -> None:
    assert found_summary([]) == ""
    assert (
        found_summary(
            [
                {"category": "FINANCIAL_INFORMATION", "type": "CREDIT_CARD_NUMBER", "count": 1},
                {"category": "CREDENTIALS", "type": "AWS_CREDENTIALS", "count": 2},
                {"category": "PERSONAL_INFORMATION", "type": "ADDRESS", "count": 28},
                {"category": "CUSTOM_IDENTIFIER", "type": "employee id", "count": 4},
            ]
        )
        == "1 credit card number, 2 AWS secret keys, 28 addresses, "
        '4 custom identifier matches ("employee id")'
    )
    # GuardDuty's threat names, kept as GuardDuty wrote them.
    assert found_summary(
        [{"category": "MALWARE", "type": "EICAR-Test-File (not a virus)", "count": 1}]
    ) == ("threat: EICAR-Test-File (not a virus)")
    assert found_summary(
        [
            {"category": "MALWARE", "type": "Trojan.GenericKD", "count": 3},
            {"category": "MALWARE", "type": "EICAR-Test-File (not a virus)", "count": 1},
        ]
    ) == ("threats: Trojan.GenericKD, EICAR-Test-File (not a virus)")


def _huge_entry() -> Entry:
    base = finding_from("macie-classification-personal.json")
    resources = tuple(
        Resource(ResourceKind.S3_OBJECT, f"arn:aws:s3:::b/{i}", bucket="b", key=f"{'k' * 900}/{i}")
        for i in range(200)
    )
    finding = dataclasses.replace(base, title="<&>" * 5000, type="T&" * 2000, resources=resources)
    history = tuple(
        HistoryItem(f"2024-10-02T10:{i % 60:02d}:00Z", "x&" * 100, "A", "FAILED", "n<" * 300)
        for i in range(500)
    )
    return entry_for(finding, history=history)


def test_block_kit_limits_hold_for_an_oversized_finding() -> None:
    blocks = build_message(_huge_entry(), "a" * 500).blocks_json()
    assert len(blocks) <= 50
    assert block_problems(blocks) == []
    with SlackServer() as slack:
        client = WebClient(token=slack.token, base_url=slack.url)
        response = client.chat_postMessage(channel="#x", text="t", blocks=blocks)
        assert response["ok"]


def test_local_server_refuses_what_slack_refuses() -> None:
    too_many = [{"type": "divider"}] * 51
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    assert block_problems(too_many) == ["no more than 50 items allowed [json-pointer:/blocks]"]
    assert block_problems(too_long) == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab&<>;é"), max_size=60), st.integers(2, 40))
def test_escape_and_fit_never_leave_a_control_character_or_half_an_escape(
    text: str, limit: int
) -> None:
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text
    cut = fit(escaped, limit)
    assert len(cut) <= limit
    body = cut.removesuffix("…")
    assert re.fullmatch(r"([^&]|&amp;|&lt;|&gt;)*", body)


def test_status_is_worded_for_what_the_remediation_does() -> None:
    from remedy.notify.facts import status_of

    sg = finding_from("cloudtrail-ec2-authorizesecuritygroupingress-world-rdp.json")
    obj = finding_from("macie-classification-financial.json")

    def guard(state: State, **attrs: Any) -> Entry:
        entry = entry_for(sg, state=state, action="quarantine", attrs=attrs)
        return dataclasses.replace(
            entry, decision={**entry.decision, "remediation": "revoke-open-ingress"}
        )

    assert status_of(guard(State.QUARANTINED)) == "Contained: the risky change is undone"
    assert status_of(guard(State.GONE)) == (
        "Nothing to do: already fixed, allow-listed or not risky"
    )
    assert status_of(guard(State.QUARANTINED, awaiting_approval=True)) == (
        "Contained: waiting for approval to restore or keep it contained"
    )
    assert status_of(guard(State.NOTIFIED)) == "Owners notified"
    # Objects keep the words of a quarantine.
    assert status_of(entry_for(obj, state=State.QUARANTINED)) == "Quarantined"
    assert status_of(entry_for(obj, state=State.GONE)) == "Already gone: nothing to quarantine"
    shown = "\n".join(texts(build_message(guard(State.GONE), "x").blocks_json()))
    assert "Nothing to do: already fixed, allow-listed or not risky" in shown


def test_guardduty_instance_and_credentials_are_named() -> None:
    """Issue 17.4: a native GuardDuty finding about an instance (or made with an access
    key) names it, by its bare id beside the ARN the ledger keys on."""
    shown = {}
    for name in (
        "guardduty-ec2-recon-portprobeunprotectedport.json",
        "guardduty-s3-pentest-parrotlinux.json",
    ):
        event = json.loads((CONFORMANCE / name).read_text("utf-8"))
        finding = normalise(event)[0]
        shown[name] = "\n".join(texts(build_message(entry_for(finding), "x").blocks_json()))
    assert (
        "AwsEc2Instance i-0d6c314027f74dc82"
        in shown["guardduty-ec2-recon-portprobeunprotectedport.json"]
    )
    pentest = shown["guardduty-s3-pentest-parrotlinux.json"]
    assert "access key GeneratedFindingAccessKeyId of GeneratedFindingUserName" in pentest
    assert "AwsIamUser GeneratedFindingUserName" in pentest
