"""The page an owner's email link opens: see the finding, then approve or dismiss it.

GET shows the finding and two buttons and changes nothing: mail scanners and link
previewers follow links, so opening a link must never decide. POST decides. Each button is
a ``<form method="post">`` whose hidden field carries that decision's own signed token
(the very token of the email's approve or dismiss link), and the POST verifies it again,
so a cross-site form cannot decide without a genuine link. The decision is the same
conditional write Slack makes (`remedy.approvals.decide`), recording the link's nonce so a second
use is told when the first happened.

The HTML is server-rendered, needs no script and loads nothing from elsewhere (the only
style is inline and pinned by hash in the Content-Security-Policy); every string that
comes from a finding is escaped.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from remedy.approvals.decide import Decider, Decisions
from remedy.approvals.email_links import APPROVE, DISMISS, Claims, LinkError, LinkSigner, when
from remedy.ledger.base import Conflict, Entry, LedgerStore, State
from remedy.ledger.vocabulary import EMAIL_ACTOR, awaiting_decision, is_contained_awaiting
from remedy.notify.facts import Facts, facts_of
from remedy.policy.accounts import Accounts

#: The form posts back to the page's own path (relative, so an API stage prefix is kept).
FORM_ACTION = "approve"
EMAIL_DECIDER = Decider(
    id=EMAIL_ACTOR,
    name="an account owner (email link)",
    actor=EMAIL_ACTOR,
    where="from the link emailed to the account's owners",
)

_STYLE = """
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1b1b1b;background:#fff}
main{max-width:42rem;margin:0 auto;padding:1.5rem 1rem}
h1{font-size:1.6rem;margin:0 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
.actions{display:flex;flex-wrap:wrap;gap:1rem;margin-top:1rem}
button{font:inherit;font-weight:600;padding:.6rem 1.2rem;border-radius:.3rem;cursor:pointer;
border:2px solid #1b1b1b;background:#fff;color:#1b1b1b}
button.primary{background:#0b4f8a;border-color:#0b4f8a;color:#fff}
button:focus-visible,a:focus-visible{outline:3px solid #b35900;outline-offset:2px}
a{color:#0b4f8a}
.notice{border-left:.35rem solid #0b4f8a;padding:.5rem 1rem;background:#eef4fa}
.refused{border-left-color:#a4262c;background:#fbeeee}
code{font-size:.9em;overflow-wrap:anywhere}
""".strip()
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

#: Response headers for every page: nothing cached (a page holds live tokens), no
#: referrer (the URL holds a token), no framing, no script, no outside resources.
HEADERS: Mapping[str, str] = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    html: str


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{escape(title)} · remedy</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n<h1>{escape(title)}</h1>\n{body}</main>\n</body>\n</html>\n"
    )


def _notice(text: str, *, refused: bool = False) -> str:
    css = "notice refused" if refused else "notice"
    return f'<p class="{css}" role="status">{escape(text)}</p>\n'


def _finding(facts: Facts) -> str:
    rows: list[tuple[str, str]] = [
        ("Finding", f"{facts.product} {facts.finding_type}".strip()),
        ("Title", facts.title),
        ("Severity", facts.severity),
        ("Account", f"{facts.account_name} ({facts.account_id})"),
        ("Region", facts.region),
        *(("Resource", resource) for resource in facts.resources),
        ("What was found", facts.found),
        ("Why approval is asked", facts.reason),
        ("Rule", facts.rule),
        ("Status", facts.status),
        ("Outcome", facts.outcome),
    ]
    items = "".join(
        f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>\n" for label, value in rows if value
    )
    out = f"<h2>The finding</h2>\n<dl>\n{items}</dl>\n"
    if facts.links:
        links = "".join(
            f'<li><a href="{escape(link.url)}" rel="noreferrer noopener">'
            f"{escape(link.label)}</a></li>\n"
            for link in facts.links
        )
        out += f"<h2>In the AWS console</h2>\n<ul>\n{links}</ul>\n"
    out += f"<p>Finding key: <code>{escape(facts.key)}</code></p>\n"
    return out


def _button(token: str, label: str, described_by: str, *, primary: bool) -> str:
    css = ' class="primary"' if primary else ""
    return (
        f'<form method="post" action="{FORM_ACTION}">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<button type="submit"{css} aria-describedby="{described_by}">{escape(label)}</button>'
        "</form>\n"
    )


def _approve_text(entry: Entry) -> tuple[str, str]:
    """The approve button's label, and what approving does."""
    remediation = entry.decision.get("remediation")
    if is_contained_awaiting(entry):
        return "Approve (restore)", (
            f"remedy already contained this ({remediation}); approving undoes the "
            "containment and puts back exactly what was there."
        )
    if remediation in (None, "s3-quarantine"):
        return "Approve quarantine", (
            "remedy moves the object into the quarantine bucket of the account that owns it; "
            "it can be released later."
        )
    return "Approve remediation", (
        f"remedy carries out {remediation} in the account that owns the resource."
    )


def _dismiss_text(entry: Entry) -> tuple[str, str]:
    """The dismiss button's label, and what dismissing does."""
    if is_contained_awaiting(entry):
        return "Deny (keep contained)", "the containment stays and the original is removed."
    return "Dismiss", "nothing is changed in the account and the finding is marked suppressed."


class ApprovalPage:
    """Answers GET (show) and POST (decide) for one token; see the module docstring."""

    def __init__(
        self,
        *,
        signer: LinkSigner,
        store: LedgerStore,
        accounts: Accounts,
        decisions: Decisions,
    ) -> None:
        self.signer = signer
        self.store = store
        self.accounts = accounts
        self.decisions = decisions

    def _facts(self, entry: Entry) -> Facts:
        return facts_of(entry, self.accounts.get(entry.account).name)

    def _pending(self, token: str | None) -> tuple[Claims, Entry] | Page:
        """The link's claims and its entry while that awaits a decision, else the page why not."""
        try:
            claims = self.signer.verify(token or "")
        except LinkError as exc:
            return _refused(exc)
        entry = self.store.get(claims.key)
        if entry is None:
            return _missing(claims)
        if not awaiting_decision(entry):
            return self._closed(entry, claims)
        return claims, entry

    def get(self, token: str | None) -> Page:
        """Shows the finding and the two buttons. Changes nothing, whatever the token."""
        opened = self._pending(token)
        if isinstance(opened, Page):
            return opened
        claims, entry = opened
        facts = self._facts(entry)
        # Signing is deterministic: these are exactly the email's two link tokens.
        approve, dismiss = (self.signer.sign(claims.other(d)) for d in (APPROVE, DISMISS))
        label, effect = _approve_text(entry)
        deny, deny_effect = _dismiss_text(entry)
        body = (
            f"<p>{escape(facts.headline)}</p>\n"
            + _finding(facts)
            + "<h2>Your decision</h2>\n"
            + f'<p id="approve-help">{escape(label)}: {escape(effect)}</p>\n'
            + f'<p id="dismiss-help">{escape(deny)}: {escape(deny_effect)}</p>\n'
            + f"<p>This link works once, until {escape(when(claims.expires))}. The Slack "
            "message and the owners' email will show the decision.</p>\n"
            '<div class="actions">\n'
            + _button(approve, label, "approve-help", primary=claims.decision != DISMISS)
            + _button(dismiss, deny, "dismiss-help", primary=claims.decision == DISMISS)
            + "</div>\n"
        )
        if claims.decision != DISMISS:
            title = f"{label}?"
        else:
            title = "Dismiss this finding?" if deny == "Dismiss" else f"{deny}?"
        return Page(200, _document(title, body))

    def post(self, token: str | None) -> Page:
        """Decides with the token the form carried, verified again; one decision ever."""
        opened = self._pending(token)
        if isinstance(opened, Page):
            return opened
        claims, entry = opened
        contained = is_contained_awaiting(entry)
        link = {"nonce": claims.nonce, "action": claims.decision, "at": when(self.signer.clock())}
        try:
            decided = self.decisions.decide(
                claims.key, claims.target, EMAIL_DECIDER, attrs={"email_link": link}
            )
        except Conflict:
            current = self.store.get(claims.key)
            return self._closed(current or entry, claims)
        facts = self._facts(decided.entry)
        if contained:
            title = "Approved" if claims.target is State.APPROVED else "Denied"
            text = (
                "Approved: the original is being restored."
                if claims.target is State.APPROVED
                else "Denied: the containment is kept and the original is being removed."
            )
            if not decided.handed_over:
                text += " It could not be started just now; the security team will finish it."
        elif claims.target is State.DISMISSED:
            title = "Dismissed"
            text = "Dismissed: nothing will be changed and the finding is marked suppressed."
        elif decided.handed_over:
            title = "Approved"
            text = (
                "Approved: the remediation is starting. The Slack message and the owners' "
                "email will tell the outcome."
            )
        else:
            title = "Approved, but not started"
            text = (
                "Approved, but the remediation could not be started just now. The security "
                "team has been alerted and will finish it; nothing more is needed from you."
            )
        return Page(200, _document(title, _notice(text) + _finding(facts)))

    def _closed(self, entry: Entry, claims: Claims) -> Page:
        """The entry is no longer pending: say who decided, when, and with what link."""
        facts = self._facts(entry)
        used = entry.attrs.get("email_link") or {}
        decided = entry.attrs.get("decided_by") or {}
        if used.get("nonce") == claims.nonce:
            title = "This link was already used"
            text = (
                f"This link was already used at {used.get('at')} to {used.get('action')} this "
                f"finding; it is now: {facts.status}. Nothing was changed."
            )
        elif decided:
            title = "Already decided"
            text = (
                f"This finding was already {decided.get('action', 'decided')} by "
                f"{decided.get('name', 'someone')} at {decided.get('at')}; it is now: "
                f"{facts.status}. Nothing was changed."
            )
        else:
            title = "No longer waiting for approval"
            text = f"This finding is no longer waiting for approval: {facts.status}."
            text += " Nothing was changed."
        return Page(409, _document(title, _notice(text, refused=True) + _finding(facts)))


def _refused(exc: LinkError) -> Page:
    return Page(exc.status, _document(exc.title, _notice(str(exc), refused=True)))


def _missing(claims: Claims) -> Page:
    text = (
        f"remedy has no finding {claims.key}: it may have been removed after its retention "
        "period. Nothing was changed."
    )
    return Page(404, _document("Finding not found", _notice(text, refused=True)))
