"""Slack button clicks: verify, authorise, change state exactly once, hand over, answer.

The order matters:

1. The signature (v0 HMAC over ``v0:<timestamp>:<body>`` with the app's signing secret,
   slack_sdk's `SignatureVerifier`) is checked on the raw body before anything is parsed;
   a timestamp more than 300 s off either way is refused, so a captured request cannot
   be replayed later, and a forged or altered one is refused always (401).
2. The payload (form field ``payload``, JSON) must be a ``block_actions`` click on one of
   remedy's buttons; its value is the finding key.
3. The clicking user must be an approver of the finding's account (accounts.yaml: Slack
   user ids, or members of a user group, read with ``usergroups.users.list`` and cached).
4. PENDING_APPROVAL -> APPROVED or DISMISSED is one conditional write recording the Slack
   user. A double click, two approvers at once, or a replayed request inside the 300 s
   window all lose that write: no second state change, no second remediation; the loser
   is told, privately, who decided and when.
5. An approval is handed to the remediator with an asynchronous Lambda invoke
   (``InvocationType=Event``, ``{"key": ...}``), so the answer goes back well within
   Slack's 3 s; the message is then updated to show who did what (the notifier).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from slack_sdk import WebClient
from slack_sdk.signature import Clock as VerifierClock
from slack_sdk.signature import SignatureVerifier

from remedy.approvals.decide import Decider, Decisions
from remedy.ledger.base import Conflict, Entry, LedgerStore, State
from remedy.ledger.vocabulary import NOT_SLACK, decider_name
from remedy.notify.base import Notifier
from remedy.notify.facts import SLACK_ACTOR
from remedy.notify.slack import SLACK_FAILURES
from remedy.notify.slack_message import DISMISS_ACTION, QUARANTINE_ACTION
from remedy.policy.accounts import Accounts, Approvers
from remedy.policy.organizations import OrganizationsUnavailable

log = logging.getLogger(__name__)

#: Slack's replay window, both ways (SignatureVerifier's own limit, stated here for docs).
MAX_SKEW_SECONDS = 300
USERGROUP_CACHE_SECONDS = 300

_TARGETS = {QUARANTINE_ACTION: State.APPROVED, DISMISS_ACTION: State.DISMISSED}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})


OK = Response(200)


class _Clock(VerifierClock):
    """slack_sdk's verifier clock, driven by the same clock as the rest of the check."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class UsergroupMembers:
    """Members of Slack user groups, read with ``usergroups.users.list`` and cached."""

    def __init__(
        self,
        client: Callable[[], WebClient],
        ttl: float = USERGROUP_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def members(self, group: str) -> frozenset[str]:
        cached = self._cache.get(group)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        response = self._client().usergroups_users_list(usergroup=group)
        users = frozenset(response.get("users") or ())
        self._cache[group] = (self.clock() + self.ttl, users)
        return users


@dataclass(frozen=True, slots=True)
class Click:
    action_id: str
    key: str
    user_id: str
    user_name: str
    channel_id: str | None


class BadRequest(Exception):
    """A signed request remedy cannot read: answered 400 with this message."""


def parse_click(body: bytes) -> Click | None:
    """The click in a signed body; None for interactions that are not remedy's buttons."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise BadRequest("expected a form body with a JSON 'payload' field") from exc
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions") or []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    if action.get("action_id") not in _TARGETS or not isinstance(action.get("value"), str):
        return None
    user = payload.get("user") or {}
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise BadRequest("block_actions payload without user.id")
    channel = payload.get("channel") or {}
    container = payload.get("container") or {}
    channel_id = (channel.get("id") if isinstance(channel, dict) else None) or (
        container.get("channel_id") if isinstance(container, dict) else None
    )
    return Click(
        action_id=action["action_id"],
        key=action["value"],
        user_id=user["id"],
        user_name=str(user.get("username") or user.get("name") or user["id"]),
        channel_id=channel_id,
    )


class Interactions:
    """Handles one Slack interactivity request; see the module docstring for the order."""

    def __init__(
        self,
        *,
        signing_secret: Callable[[], str],
        store: LedgerStore,
        accounts: Accounts,
        slack: Callable[[], WebClient],
        notifier: Notifier,
        hand_over: Callable[[str], None],
        usergroups: UsergroupMembers | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signing_secret = signing_secret
        self.store = store
        self.accounts = accounts
        self._slack = slack
        self.decisions = Decisions(store, notifier, hand_over, clock)
        self.usergroups = usergroups or UsergroupMembers(slack)
        self.clock = clock

    # -- 1. signature ------------------------------------------------------------------------
    def verify(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """None if Slack signed `body`; else why not (for the log, not the caller)."""
        timestamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if not timestamp or not signature:
            return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
        if not timestamp.isascii() or not timestamp.isdigit():
            return "malformed timestamp"
        skew = self.clock() - int(timestamp)
        if abs(skew) > MAX_SKEW_SECONDS:
            return f"timestamp {'in the future' if skew < 0 else 'too old'} by {abs(skew):.0f} s"
        verifier = SignatureVerifier(self._signing_secret(), clock=_Clock(self.clock))
        try:
            valid = verifier.is_valid(body, timestamp, signature)
        except UnicodeDecodeError:
            return "body is not UTF-8"
        return None if valid else "signature does not match"

    # -- the whole request ---------------------------------------------------------------------
    def handle(self, body: bytes, headers: Mapping[str, str]) -> Response:
        refused = self.verify(body, headers)
        if refused is not None:
            log.warning("refused a Slack request: %s", refused)
            return Response(401, "invalid Slack signature")
        try:
            click = parse_click(body)
        except BadRequest as exc:
            log.warning("signed Slack request not understood: %s", exc)
            return Response(400, str(exc))
        if click is None:
            return OK
        entry = self.store.get(click.key)
        if entry is None:
            self._tell(click, f"remedy has no finding {click.key}: nothing was changed.")
            return OK
        if not self._may_decide(click, entry):
            return OK
        decider = Decider(
            id=click.user_id,
            name=click.user_name,
            actor=SLACK_ACTOR + click.user_id,
            where=f"in Slack by {click.user_name}",
        )
        try:
            decided = self.decisions.decide(click.key, _TARGETS[click.action_id], decider)
        except Conflict:
            self._tell_already(click)
            return OK
        if not decided.handed_over:
            self._tell(
                click,
                f"Approved, but starting the quarantine of {click.key} failed (the error "
                "is logged). The approval stands: an operator can start it by invoking "
                f'the remediator function with {{"key": "{click.key}"}}.',
            )
        return OK

    # -- 3. authorisation ----------------------------------------------------------------------
    def _may_decide(self, click: Click, entry: Entry) -> bool:
        try:
            account = self.accounts.get(entry.account)
        except OrganizationsUnavailable as exc:
            log.warning("cannot resolve account %s: %s", entry.account, exc)
            self._tell(
                click,
                "Could not read this account's approvers from AWS Organizations; nothing was "
                "changed. Try again shortly.",
            )
            return False
        approvers = account.approvers
        if click.user_id in approvers.users:
            return True
        if approvers.usergroup:
            try:
                if click.user_id in self.usergroups.members(approvers.usergroup):
                    return True
            except SLACK_FAILURES as exc:
                log.warning("cannot read user group %s: %s", approvers.usergroup, exc)
                self._tell(click, "Could not check the approvers with Slack; try again shortly.")
                return False
        log.warning(
            "Slack user %s (%s) may not decide %s in account %s",
            click.user_id,
            click.user_name,
            entry.key,
            entry.account,
        )
        self._tell(
            click,
            f"You are not an approver for {account.name} ({entry.account}); nothing was "
            f"changed. Approvers: {_approvers_text(approvers)}.",
        )
        return False

    # -- answers -------------------------------------------------------------------------------
    def _tell_already(self, click: Click) -> None:
        current = self.store.get(click.key)
        if current is None:
            return
        decided = current.attrs.get("decided_by") or {}
        if decided:
            if decided.get("id") == click.user_id:
                who = "you"
            elif decided.get("id") in NOT_SLACK:
                # Not a Slack user: a mention would render as an unknown user.
                who = decider_name(decided)
            else:
                who = f"<@{decided.get('id')}>"
            text = f"Already {decided.get('action', 'decided')} by {who} at {decided.get('at')}"
            text += f"; it is now {current.state.value}."
        else:
            text = f"This finding is no longer waiting for approval: it is {current.state.value}."
        self._tell(click, text)

    def _tell(self, click: Click, text: str) -> None:
        """A private answer to the clicking user; best effort, never fails the request."""
        if not click.channel_id:
            return
        try:
            self._slack().chat_postEphemeral(
                channel=click.channel_id, user=click.user_id, text=text
            )
        except SLACK_FAILURES as exc:
            log.warning("could not answer Slack user %s: %s", click.user_id, exc)


def _approvers_text(approvers: Approvers) -> str:
    names = [f"<@{user}>" for user in approvers.users]
    if approvers.usergroup:
        names.append(f"<!subteam^{approvers.usergroup}>")
    return ", ".join(names) or "none configured"


def lambda_hand_over(client: Any, function_name: str) -> Callable[[str], None]:
    """Start the remediator for a key without waiting for it (asynchronous invoke)."""

    def hand_over(key: str) -> None:
        response = client.invoke(
            FunctionName=function_name,
            InvocationType="Event",
            Payload=json.dumps({"key": key}).encode("utf-8"),
        )
        if response.get("StatusCode") != 202:
            raise RuntimeError(f"remediator invoke for {key} answered {response.get('StatusCode')}")

    return hand_over
