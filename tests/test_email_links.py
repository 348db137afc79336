"""Email approval links: signing and verification, the page's GET (never decides) and POST
(decides once), the owners' email carrying the links, all against moto through the
Lambda handler as the HTTP API calls it."""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from email_support import LINK_KEY, OTHER_KEY, PUBLIC_URL, REMEDIATOR, Core, core
from httpapi_server import http_api_event
from notify_support import atomic_dynamodb, finding_from
from remedy.approvals.decide import Decider, Decisions
from remedy.approvals.email_links import (
    APPROVE,
    DISMISS,
    PATH,
    Claims,
    ExpiredLink,
    ForgedLink,
    LinkKey,
    LinkKeyError,
    LinkSigner,
    MalformedLink,
    when,
)
from remedy.approvals.page import EMAIL_ACTOR, HEADERS
from remedy.handlers import email_approval
from remedy.ledger.base import Entry, State
from remedy.notify.composite import build_notifier
from remedy.notify.owners import OwnersNotifier
from remedy.policy import load_policy
from remedy.settings import Settings

__all__ = ["atomic_dynamodb", "core"]

NOW = 1_790_000_000
KEY = "m-0123456789abcdef0123456789abcdef"


def signer(key: str = LINK_KEY, now: float = NOW, **kwargs: Any) -> LinkSigner:
    return LinkSigner(lambda: key.encode(), base_url=PUBLIC_URL, clock=lambda: now, **kwargs)


def claims(decision: str = APPROVE, expires: int = NOW + 3600) -> Claims:
    return Claims(KEY, decision, expires, "n0nce-0000000001")


# ---------------------------------------------------------------- tokens


def test_a_signed_token_verifies_to_its_claims() -> None:
    for decision in (APPROVE, DISMISS):
        token = signer().sign(claims(decision))
        assert signer().verify(token) == claims(decision)
        assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}", token)


def test_a_token_expires_at_its_expiry_not_a_second_later() -> None:
    token = signer().sign(claims(expires=NOW + 60))
    assert signer(now=NOW + 59).verify(token).key == KEY
    for late in (NOW + 60, NOW + 86_400):
        with pytest.raises(ExpiredLink) as caught:
            signer(now=late).verify(token)
        assert str(caught.value) == (
            f"This link expired at {when(NOW + 60)}. Nothing was changed. Decide in Slack, "
            "or ask the security team to request the approval again."
        )
        assert caught.value.status == 410


def test_an_altered_payload_is_refused_even_with_the_original_mac() -> None:
    token = signer().sign(claims(DISMISS))
    payload, mac = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for change in ({"d": APPROVE}, {"e": NOW + 10**9}, {"k": "m-someone-elses-finding"}):
        forged = base64.urlsafe_b64encode(json.dumps({**body, **change}).encode()).rstrip(b"=")
        with pytest.raises(ForgedLink) as caught:
            signer().verify(f"{forged.decode()}.{mac}")
        assert caught.value.status == 403
        assert "signature does not match" in str(caught.value)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = signer(key=OTHER_KEY).sign(claims())
    with pytest.raises(ForgedLink):
        signer().verify(token)
    # An expired link signed with the wrong key says forged, not expired: nothing in an
    # unauthenticated payload is believed.
    with pytest.raises(ForgedLink):
        signer(now=NOW + 10**6).verify(signer(key=OTHER_KEY).sign(claims()))


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "a.b.c", "a b.c", "x" * 2000 + ".y", "@@@.###", "eyJ.not-base64!"],
    ids=["empty", "dot", "no-dot", "two-dots", "space", "huge", "symbols", "bang"],
)
def test_a_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(MalformedLink) as caught:
        signer().verify(token)
    assert caught.value.status == 400
    assert str(caught.value).startswith("This link is incomplete or damaged. Nothing was changed.")


def test_a_genuine_mac_over_a_payload_remedy_never_issues_is_malformed() -> None:
    s = signer()
    for body in (b"not json", b'{"k": "x"}', b'{"k":"x","d":"delete","e":1,"n":"n"}'):
        payload = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
        with pytest.raises(MalformedLink):
            s.verify(f"{payload}.{s._mac(payload)}")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_no_single_character_change_to_a_token_is_accepted(data: st.DataObject) -> None:
    token = signer().sign(claims())
    at = data.draw(st.integers(0, len(token) - 1))
    char = data.draw(st.characters(codec="ascii").filter(lambda c: c != token[at]))
    with pytest.raises((ForgedLink, MalformedLink)):
        signer().verify(token[:at] + char + token[at + 1 :])


def test_links_are_a_pair_sharing_one_nonce_and_expiry(core: Core) -> None:
    entry = core.pending()
    s = core.signer(clock=lambda: NOW, ttl_seconds=7200)
    links = s.links(entry)
    approve = s.verify(parse_qs(urlsplit(links.approve).query)["token"][0])
    dismiss = s.verify(parse_qs(urlsplit(links.dismiss).query)["token"][0])
    assert links.approve.startswith(f"{PUBLIC_URL}/approve?token=")
    assert (approve.decision, dismiss.decision) == (APPROVE, DISMISS)
    assert approve.key == dismiss.key == entry.key
    assert approve.nonce == dismiss.nonce
    assert approve.expires == dismiss.expires == NOW + 7200
    assert links.expires == when(NOW + 7200)
    # Another email, another nonce.
    assert s.verify(parse_qs(urlsplit(s.links(entry).approve).query)["token"][0]).nonce != (
        approve.nonce
    )


# ---------------------------------------------------------------- the key


def test_the_key_is_read_from_secrets_manager_and_must_be_long(core: Core) -> None:
    client = core.session.client("secretsmanager")
    assert LinkKey(core.secret_arn, client=client)() == LINK_KEY.encode()
    short = client.create_secret(Name="short", SecretString="too-short")["ARN"]
    with pytest.raises(LinkKeyError) as caught:
        LinkKey(short, client=client)()
    assert str(caught.value) == (
        f"email-link key {short} holds fewer than 32 characters: store a long random string "
        "(docs/notifications.md, Approval by email)"
    )
    empty = client.create_secret(Name="empty")["ARN"]
    with pytest.raises(LinkKeyError) as caught:
        LinkKey(empty, client=client)()
    assert str(caught.value) == (
        f"cannot read the email-link key {empty}: check the ARN and that the function may "
        "call secretsmanager:GetSecretValue on it"
    )
    with pytest.raises(LinkKeyError, match="set REMEDY_LINK_SECRET_ARN"):
        LinkKey("")


def test_no_signer_unless_the_key_and_the_public_url_are_configured() -> None:
    client = boto3.client("secretsmanager", region_name="eu-west-1")  # never called here
    base = Settings.from_env()
    for arn, url in (("", "https://h"), ("arn", "")):
        changed = replace(base, link_secret_arn=arn, public_url=url)
        assert LinkSigner.from_settings(changed, client=client) is None
    configured = replace(base, link_secret_arn="arn", public_url="https://h/", link_ttl_hours=5)
    made = LinkSigner.from_settings(configured, client=client)
    assert made is not None
    assert (made.base_url, made.ttl_seconds) == ("https://h", 5 * 3600)


# ---------------------------------------------------------------- the page, through the handler


def get(token: str | None) -> dict[str, Any]:
    query = urlencode({"token": token}) if token is not None else ""
    event = http_api_event("GET", f"/approve?{query}", {}, b"", "192.0.2.1")
    return email_approval.handler(event, None)


def post(token: str | None, **fields: str) -> dict[str, Any]:
    form = {**({"token": token} if token is not None else {}), **fields}
    headers = {"content-type": "application/x-www-form-urlencoded"}
    event = http_api_event("POST", "/approve", headers, urlencode(form).encode(), "192.0.2.1")
    assert event["isBase64Encoded"] is bool(form)  # as the HTTP API sends form posts
    return email_approval.handler(event, None)


def text_of(response: dict[str, Any]) -> str:
    """The page's visible text (its <main>), tags dropped, whitespace folded, unescaped."""
    main = re.search(r"<main>(.*)</main>", response["body"], re.S)
    assert main is not None, response["body"]
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", main.group(1)).split()))


def form_tokens(response: dict[str, Any]) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'name="token" value="([^"]+)"', response["body"])]


def link_tokens(core: Core, entry: Entry, **kwargs: Any) -> tuple[str, str]:
    links = core.signer(**kwargs).links(entry)
    return tuple(  # type: ignore[return-value]
        parse_qs(urlsplit(url).query)["token"][0] for url in (links.approve, links.dismiss)
    )


def test_get_shows_the_finding_and_two_buttons_and_changes_nothing(core: Core) -> None:
    entry = core.pending()  # 222222222222 staging-analytics, credit card numbers
    approve, dismiss = link_tokens(core, entry)
    titles = {approve: "Approve quarantine?", dismiss: "Dismiss this finding?"}
    for token in (approve, dismiss, approve):
        response = get(token)
        assert response["statusCode"] == 200
        assert response["headers"] == dict(HEADERS)
        page = text_of(response)
        assert page.startswith(titles[token])
        assert "staging-analytics (222222222222)" in page
        assert "Severity" in page and entry.finding["severity"] in page
        assert entry.decision["reason"] in page
        # Each button posts the email's own token for its decision.
        assert form_tokens(response) == [approve, dismiss]
        assert response["body"].count('<form method="post" action="approve">') == 2
        assert re.findall(r"<button[^>]*>([^<]+)</button>", response["body"]) == [
            "Approve quarantine",
            "Dismiss",
        ]
    after = core.store.get(entry.key)
    assert after == entry  # same state, version, history, attrs
    assert core.invoked == []
    assert core.owner_messages() == []


def test_the_page_is_self_contained_and_accessible(core: Core) -> None:
    body = get(link_tokens(core, core.pending())[0])["body"]
    assert body.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "<script" not in body and "src=" not in body and "<link" not in body
    assert re.search(r"<h1>[^<]+</h1>", body) and "<h2" in body
    assert '<meta name="viewport"' in body
    for help_id in ("approve-help", "dismiss-help"):
        assert f'aria-describedby="{help_id}"' in body and f'id="{help_id}"' in body
    csp = HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    style = re.search(r"<style>(.*?)</style>", body, re.S)
    assert style is not None
    digest = base64.b64encode(__import__("hashlib").sha256(style.group(1).encode()).digest())
    assert f"'sha256-{digest.decode()}'" in csp


def test_finding_text_is_escaped(core: Core) -> None:
    finding = finding_from("macie-classification-financial.json")
    evil = "<script>alert(1)</script>\"'&"
    (obj,) = finding.s3_objects
    finding = replace(
        finding,
        title=evil,
        resources=tuple(replace(r, key=evil) if r is obj else r for r in finding.resources),
    )
    entry = core.put(finding)
    body = get(link_tokens(core, entry)[0])["body"]
    assert "<script>" not in body
    assert html.escape(evil) in body
    assert evil in text_of({"body": body})


def test_post_approve_decides_once_and_starts_the_remediator(core: Core) -> None:
    entry = core.pending()
    approve, _ = link_tokens(core, entry)
    nonce = core.signer().verify(approve).nonce
    response = post(approve)
    assert response["statusCode"] == 200
    assert "Approved: the remediation is starting." in text_of(response)
    after = core.store.get(entry.key)
    assert after is not None and after.state is State.APPROVED
    assert after.history[-1].by == EMAIL_ACTOR
    assert after.history[-1].note == "approved from the link emailed to the account's owners"
    assert after.attrs["email_link"]["nonce"] == nonce
    assert after.attrs["email_link"]["action"] == APPROVE
    assert after.attrs["decided_by"]["action"] == "approved"
    assert core.invoked == [
        {"function": REMEDIATOR, "type": "Event", "payload": {"key": entry.key}}
    ]
    # APPROVED is transient: the owners hear of the outcome, from the remediator.
    assert core.owner_messages() == []


def test_post_dismiss_decides_and_does_not_remediate(core: Core) -> None:
    entry = core.pending()
    _, dismiss = link_tokens(core, entry)
    response = post(dismiss)
    assert response["statusCode"] == 200
    assert "Dismissed: nothing will be changed" in text_of(response)
    after = core.store.get(entry.key)
    assert after is not None and after.state is State.DISMISSED
    assert core.invoked == []
    (message,) = core.owner_messages()
    assert message["MessageAttributes"]["state"]["StringValue"] == "DISMISSED"
    assert "Approve:" not in message["Body"]


def test_a_used_link_and_its_sibling_are_refused_and_say_when(core: Core) -> None:
    entry = core.pending()
    approve, dismiss = link_tokens(core, entry)
    assert post(approve)["statusCode"] == 200
    decided = core.store.get(entry.key)
    assert decided is not None
    used_at = decided.attrs["email_link"]["at"]
    core.invoked.clear()
    for response in (post(approve), post(dismiss), get(approve), get(dismiss)):
        assert response["statusCode"] == 409
        page = text_of(response)
        assert (
            f"This link was already used at {used_at} to approve this finding; it is now: "
            "Approved: quarantine starting. Nothing was changed."
        ) in page
        assert form_tokens(response) == []
    assert core.store.get(entry.key) == decided
    assert core.invoked == []


def test_a_decision_made_in_slack_first_is_named(core: Core) -> None:
    entry = core.pending()
    approve, _ = link_tokens(core, entry)
    slack_user = Decider("U0PAYLEAD1", "ada", "slack:U0PAYLEAD1", "in Slack by ada")
    notifier = build_notifier(
        Settings.from_env(), load_policy().accounts, core.store, session=core.session
    )
    Decisions(core.store, notifier, lambda key: None).decide(entry.key, State.DISMISSED, slack_user)
    decided = core.store.get(entry.key)
    response = post(approve)
    assert response["statusCode"] == 409
    assert "This finding was already dismissed by ada at" in text_of(response)
    assert core.store.get(entry.key) == decided
    assert core.invoked == []


def test_an_expired_link_is_refused_on_get_and_post(core: Core) -> None:
    entry = core.pending()
    approve, dismiss = link_tokens(core, entry, clock=lambda: NOW, ttl_seconds=60)
    for response in (get(approve), post(approve), post(dismiss)):
        assert response["statusCode"] == 410
        assert text_of(response) == (
            f"This link has expired This link expired at {when(NOW + 60)}. Nothing was "
            "changed. Decide in Slack, or ask the security team to request the approval again."
        )
    assert core.store.get(entry.key) == entry
    assert core.invoked == []


@pytest.mark.parametrize("kind", ["tampered", "wrong-key", "missing"])
def test_a_bad_token_is_refused_and_changes_nothing(core: Core, kind: str) -> None:
    entry = core.pending()
    approve, dismiss = link_tokens(core, entry)
    token = {
        "tampered": dismiss.split(".")[0] + "." + approve.split(".")[1],
        "wrong-key": signer(OTHER_KEY, now=NOW).sign(
            replace(core.signer().verify(approve), expires=NOW + 10**9)
        ),
        "missing": None,
    }[kind]
    status = 400 if token is None else 403
    for response in (get(token), post(token)):
        assert response["statusCode"] == status
        assert form_tokens(response) == []
    assert core.store.get(entry.key) == entry
    assert core.invoked == []
    assert core.owner_messages() == []


def test_a_link_to_an_unknown_finding_says_so(core: Core) -> None:
    token = core.signer().sign(Claims("m-gone", APPROVE, 2**40, "n"))
    for response in (get(token), post(token)):
        assert response["statusCode"] == 404
        assert "remedy has no finding m-gone" in text_of(response)


def test_other_methods_are_refused(core: Core) -> None:
    event = http_api_event("PUT", "/approve", {}, b"", "192.0.2.1")
    assert email_approval.handler(event, None) == {
        "statusCode": 405,
        "headers": {"Allow": "GET, POST"},
        "body": "",
    }


def test_many_posts_of_one_link_at_once_decide_once(core: Core, atomic_dynamodb: None) -> None:
    entry = core.pending()
    approve, dismiss = link_tokens(core, entry)
    statuses: list[int] = []
    lock = threading.Lock()

    def click(token: str) -> None:
        status = post(token)["statusCode"]
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=click, args=(t,)) for t in [approve, dismiss] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 7
    after = core.store.get(entry.key)
    assert after is not None and after.state in (State.APPROVED, State.DISMISSED)
    assert len([h for h in after.history if h.source == State.PENDING_APPROVAL.value]) == 1
    assert len(core.invoked) == (1 if after.state is State.APPROVED else 0)


# ---------------------------------------------------------------- the owners' email


def test_the_owners_email_for_a_pending_approval_carries_working_links(core: Core) -> None:
    accounts = load_policy().accounts
    notifier = build_notifier(Settings.from_env(), accounts, core.store, session=core.session)
    entry = core.pending()
    notifier.on_change(entry)
    (message,) = core.owner_messages()
    body = message["Body"]
    approve = re.search(r"^  Approve: (\S+)$", body, re.M)
    dismiss = re.search(r"^  Dismiss: (\S+)$", body, re.M)
    assert approve and dismiss
    assert "nothing changes\nuntil you press its button; the links work once, until" in body
    for url, decision in ((approve.group(1), APPROVE), (dismiss.group(1), DISMISS)):
        assert url.startswith(f"{PUBLIC_URL}/approve?token=")
        token = parse_qs(urlsplit(url).query)["token"][0]
        assert core.signer().verify(token).decision == decision
    # The link opens the page; the page's button decides.
    token = parse_qs(urlsplit(dismiss.group(1)).query)["token"][0]
    assert get(token)["statusCode"] == 200
    assert post(form_tokens(get(token))[1])["statusCode"] == 200
    after = core.store.get(entry.key)
    assert after is not None and after.state is State.DISMISSED


def test_other_owners_emails_carry_no_links(core: Core) -> None:
    accounts = load_policy().accounts
    notifier = OwnersNotifier(
        core.topic_arn, accounts, core.session.client("sns"), links=core.signer().links
    )
    notifier.on_change(replace(core.pending(), state=State.NOTIFIED))
    (message,) = core.owner_messages()
    assert "/approve?token=" not in message["Body"]


def test_an_unreadable_key_still_sends_the_email_without_links(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = load_policy().accounts
    empty = core.session.client("secretsmanager").create_secret(Name="unset")["ARN"]
    broken = LinkSigner(
        LinkKey(empty, client=core.session.client("secretsmanager")), base_url=PUBLIC_URL
    )
    notifier = OwnersNotifier(
        core.topic_arn, accounts, core.session.client("sns"), links=broken.links
    )
    entry = core.pending()
    notifier.on_change(entry)
    (message,) = core.owner_messages()
    assert "/approve?token=" not in message["Body"]
    assert f"owners' email for {entry.key} goes without approval links" in caplog.text


# ---------------------------------------------------------------- the template


def test_the_template_routes_the_page_and_limits_the_key_to_who_needs_it() -> None:
    from cfnlint.decode import decode

    template, errors = decode(str(ROOT / "template.yaml"))
    assert not errors and template is not None
    res = template["Resources"]
    function = res["EmailApprovalFunction"]["Properties"]
    assert function["Handler"] == "remedy.handlers.email_approval.handler"
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"]
        for e in function["Events"].values()
    }
    assert set(routes) == {("GET", PATH), ("POST", PATH)}
    for route in routes.values():
        assert route["ApiId"] == {"Ref": "InteractionsApi"}
        assert route["PayloadFormatVersion"] == "2.0"
    key = {"Ref": "EmailLinkSecret"}
    readers = set()
    for name, resource in res.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        if "Role" in props:  # a shared named role: its policy is the function's grant
            role = res[props["Role"]["Fn::GetAtt"][0]]["Properties"]
            policies = [p["PolicyDocument"] for p in role["Policies"]]
        else:
            policies = props.get("Policies", [])
        statements = [s for p in policies for s in p["Statement"]]
        if any(s["Resource"] == key for s in statements):
            (grant,) = [s for s in statements if s["Resource"] == key]
            assert grant["Action"] == "secretsmanager:GetSecretValue"
            readers.add(name)
    # The page checks links; the findings function, which asks for approval, signs them. The
    # remediator shares the findings function's role (both act in member accounts), so it can
    # read the key too, but is never given its ARN.
    assert readers == {"EmailApprovalFunction", "FindingsFunction", "RemediatorFunction"}
    for name in ("EmailApprovalFunction", "FindingsFunction"):
        variables = res[name]["Properties"]["Environment"]["Variables"]
        assert variables["REMEDY_LINK_SECRET_ARN"] == key
    remediator_env = res["RemediatorFunction"]["Properties"].get("Environment", {})
    assert "REMEDY_LINK_SECRET_ARN" not in remediator_env.get("Variables", {})
    findings_env = res["FindingsFunction"]["Properties"]["Environment"]["Variables"]
    assert "${InteractionsApi}.execute-api." in findings_env["REMEDY_PUBLIC_URL"]["Fn::Sub"]
