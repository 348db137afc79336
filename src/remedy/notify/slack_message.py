"""The Slack message for one ledger entry, built with slack_sdk's Block Kit classes.

Every piece of text that comes from a finding is escaped for Slack mrkdwn (``&``, ``<``,
``>``), so a finding cannot forge links, mentions or formatting, and every text is cut to
Block Kit's limits (3,000 characters per section text, 2,000 per field, 150 per header)
without splitting an escape. ``approve`` decisions waiting for approval carry the
Quarantine and Dismiss buttons; their value is the finding key. An entry contained at once
and awaiting approval carries Approve (restore) and Deny (keep contained) instead, with
the same action ids (approve releases, deny keeps the containment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from remedy.ledger.base import Entry, State
from remedy.ledger.vocabulary import is_contained_awaiting
from remedy.notify.facts import Event, Facts, facts_of

QUARANTINE_ACTION = "remedy_quarantine"
DISMISS_ACTION = "remedy_dismiss"
ACTIONS_BLOCK = "remedy_decision"

MAX_SECTION_TEXT = SectionBlock.text_max_length
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = HeaderBlock.text_max_length
#: Resources listed in the message; the rest are counted.
MAX_RESOURCES = 5

_SEVERITY_EMOJI = {
    "CRITICAL": ":red_circle:",
    "HIGH": ":large_orange_circle:",
    "MEDIUM": ":large_yellow_circle:",
    "LOW": ":large_blue_circle:",
    "INFORMATIONAL": ":white_circle:",
}


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn and plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """Cut already-escaped `text` to `limit` characters, never inside an ``&...;`` escape."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def link(url: str, label: str) -> str:
    """Slack's ``<url|label>``. The URL must be percent-encoded (`remedy.notify.console`
    builds them so): one holding ``|``, ``<`` or ``>`` would end the link early and let
    the rest be read as Slack markup (``<!here>``), so it is refused, not trusted."""
    if any(c in url for c in "|<>"):
        raise ValueError(f"a Slack link's URL must be percent-encoded (no |, < or >): {url!r}")
    return f"<{url}|{escape(label)}>"


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """What ``chat.postMessage`` and ``chat.update`` send: fallback text and blocks."""

    text: str
    blocks: tuple[Block, ...]

    def blocks_json(self) -> list[dict[str, Any]]:
        return [block.to_dict() for block in self.blocks]


def has_buttons(entry: Entry) -> bool:
    pending = entry.state is State.PENDING_APPROVAL or is_contained_awaiting(entry)
    return pending and entry.decision.get("action") == "approve"


def build_message(entry: Entry, account_name: str) -> SlackMessage:
    facts = facts_of(entry, account_name)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_header(facts), emoji=True)),
        SectionBlock(text=MarkdownTextObject(text=_summary(facts)), fields=_fields(facts)),
    ]
    if facts.links:
        links = " · ".join(link(item.url, item.label) for item in facts.links)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=fit(links, MAX_SECTION_TEXT))))
    if facts.events:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_history(facts.events))]))
    if has_buttons(entry):
        blocks.append(
            _contained_buttons(entry.key) if is_contained_awaiting(entry) else _buttons(entry.key)
        )
    blocks.append(_key_block(entry.key))
    for block in blocks:
        block.validate_json()
    return SlackMessage(text=fit(escape(facts.headline), 3000), blocks=tuple(blocks))


def permalink(channel_id: str, ts: str) -> str:
    """The link to a message Slack resolves in any workspace (``/archives/<channel>/p<ts>``)."""
    return f"https://slack.com/archives/{channel_id}/p{ts.replace('.', '')}"


def build_reminder(
    entry: Entry, account_name: str, note: str, original: str | None
) -> SlackMessage:
    """A reminder that `entry` still waits for a decision: `note` says since when and what
    happens next; `original` links the message with the buttons (None: the reminder is a
    reply in its thread, or there is no message to link)."""
    facts = facts_of(entry, account_name)
    line = f":alarm_clock: *{escape(note)}*"
    if original is not None:
        line += "\n" + link(original, "Decide in the original message")
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=fit(line, MAX_SECTION_TEXT))),
        SectionBlock(text=MarkdownTextObject(text=_summary(facts)), fields=_fields(facts)),
        _key_block(entry.key),
    ]
    for block in blocks:
        block.validate_json()
    return SlackMessage(
        text=fit(escape(f"Reminder: {note}: {facts.headline}"), 3000), blocks=tuple(blocks)
    )


def _key_block(key: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=f"remedy · finding key `{key}`")])


def _header(facts: Facts) -> str:
    emoji = _SEVERITY_EMOJI.get(facts.severity, ":white_circle:")
    text = f"{emoji} {facts.severity} · {facts.status}"
    return text if len(text) <= MAX_HEADER_TEXT else text[: MAX_HEADER_TEXT - 1] + "…"


def _summary(facts: Facts) -> str:
    title = escape(facts.title or facts.finding_type)
    lines = [f"*{title}*", f"{escape(facts.product)} · {escape(facts.finding_type)}"]
    if facts.reason:
        lines.append(escape(facts.reason))
    return fit("\n".join(lines), MAX_SECTION_TEXT)


def _field(label: str, value: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=fit(f"*{label}*\n{value}", MAX_FIELD_TEXT))


def _fields(facts: Facts) -> list[MarkdownTextObject]:
    resources = [escape(r) for r in facts.resources[:MAX_RESOURCES]]
    if len(facts.resources) > MAX_RESOURCES:
        resources.append(f"and {len(facts.resources) - MAX_RESOURCES} more")
    fields = [
        _field("Account", f"{escape(facts.account_name)} ({facts.account_id})"),
        _field("Region", escape(facts.region)),
        _field("Resource", "\n".join(resources) or "none named"),
    ]
    if facts.exposure:
        fields.append(_field("Exposure", f":warning: {escape(facts.exposure)}"))
    if facts.found:
        fields.append(_field("Found", escape(facts.found)))
    fields.append(_field("Decision", f"{escape(facts.action)} (rule {escape(facts.rule)})"))
    status = escape(facts.status)
    if facts.outcome:
        status += f"\n{escape(facts.outcome)}"
    fields.append(_field("Status", status))
    return fields


def _event_line(event: Event) -> str:
    who = f"<@{event.slack_user}>" if event.slack_user else escape(event.who)
    line = f"{escape(event.at)} · {escape(event.what)} · by {who}"
    return f"{line}: {escape(event.note)}" if event.note else line


def _history(events: Sequence[Event]) -> str:
    """The newest steps that fit, oldest first; how many earlier ones were left out."""
    lines: list[str] = []
    size = 0
    for event in reversed(events):
        line = fit(_event_line(event), MAX_SECTION_TEXT - 100)
        if size + len(line) + 1 > MAX_SECTION_TEXT - 100:
            break
        lines.insert(0, line)
        size += len(line) + 1
    left_out = len(events) - len(lines)
    if left_out:
        lines.insert(0, f"({left_out} earlier steps in the ledger)")
    return "\n".join(lines)


def _buttons(key: str) -> ActionsBlock:
    return _decision(
        key,
        approve=(
            "Quarantine",
            _confirm(
                "Quarantine this object?",
                "It moves to the account's quarantine bucket. It can be released later.",
                "Quarantine",
            ),
        ),
        deny=("Dismiss", None),
    )


def _contained_buttons(key: str) -> ActionsBlock:
    return _decision(
        key,
        approve=(
            "Approve (restore)",
            _confirm(
                "Restore the original?",
                "remedy undoes its containment and puts back exactly what was there.",
                "Restore",
            ),
        ),
        deny=(
            "Deny (keep contained)",
            _confirm(
                "Keep it contained?",
                "The containment stays and the original is removed.",
                "Keep contained",
            ),
        ),
    )


def _confirm(title: str, text: str, confirm: str) -> ConfirmObject:
    return ConfirmObject(title=title, text=text, confirm=confirm, deny="Cancel")


def _decision(
    key: str,
    *,
    approve: tuple[str, ConfirmObject | None],
    deny: tuple[str, ConfirmObject | None],
) -> ActionsBlock:
    """The two decision buttons, approve (primary) then deny (danger), each carrying `key`."""
    return ActionsBlock(
        block_id=ACTIONS_BLOCK,
        elements=[
            ButtonElement(text=text, action_id=action_id, value=key, style=style, confirm=confirm)
            for (text, confirm), action_id, style in (
                (approve, QUARANTINE_ACTION, "primary"),
                (deny, DISMISS_ACTION, "danger"),
            )
        ],
    )
