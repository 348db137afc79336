"""Does an IAM policy document allow a restricted action? Pure logic, no AWS.

IAM matches action names as case-insensitive globs (``*`` any run of characters, ``?`` one
character), and both sides of the question may be globs: the document may say ``s3:*`` and
the restricted list ``s3:DeleteBucket``, or the list ``s3:Delete*`` and the document
``s3:DeleteObject``. So a restricted pattern is allowed by an ``Action`` statement when the
two glob languages intersect, and by a ``NotAction`` statement when some action the
restricted pattern names is left out of every ``NotAction`` pattern (``iam:*`` against
``NotAction: iam:Get*`` is still allowed: ``iam:PutRolePolicy`` is not a Get). Both are
decided exactly, on small automata built from the patterns, not by sampling names.

``Effect: Deny`` statements never count: this answers "what does the document grant", and
a guard that trusted a Deny to cancel a grant would be fooled by a later edit of the Deny.
``Condition`` is ignored for the same reason: a condition narrows a grant, it does not
remove it, and the approver sees the whole document.

A restricted entry may name ``resources``: it then counts only where the statement grants
the action on every resource those patterns cover (``sts:AssumeRole`` on ``*`` is
escalation; on one named role it is ordinary delegation). Resource ARNs are case-sensitive.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from remedy.errors import RemedyError
from remedy.policy_files import Restricted


class InvalidPolicyDocument(RemedyError):
    """A policy document that is not IAM's JSON grammar; `where` is the path inside it."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"policy document {where}: {message}" if where else message)


# --- globs ---------------------------------------------------------------------------------

# A symbol standing for every character that no pattern in the question names literally:
# such characters are interchangeable, so one representative keeps the automata exact.
_OTHER = ""


@dataclass(frozen=True, slots=True)
class _Glob:
    tokens: str  # the pattern, folded when matching is case-insensitive

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        """Add the states reachable without reading: a ``*`` may match nothing."""
        out = set(states)
        for state in sorted(out):
            while state < len(self.tokens) and self.tokens[state] == "*":
                state += 1
                out.add(state)
        return frozenset(out)

    def step(self, states: frozenset[int], symbol: str) -> frozenset[int]:
        nxt: set[int] = set()
        for state in states:
            if state == len(self.tokens):
                continue
            char = self.tokens[state]
            if char == "*":
                nxt.add(state)
            elif char == "?" or char == symbol:
                nxt.add(state + 1)
        return self.closure(nxt)

    def accepts(self, states: frozenset[int]) -> bool:
        return len(self.tokens) in states


def _alphabet(patterns: Iterable[str]) -> tuple[str, ...]:
    return (*sorted({c for p in patterns for c in p if c not in "*?"}), _OTHER)


def _search(subject: str, others: Sequence[str], *, inside: bool, fold: bool) -> bool:
    """Is there a name matching `subject` that matches any of `others` (`inside`), or none?

    A breadth-first walk over the product of the subset automata of `subject` and of the
    union of `others`; it ends because both have finitely many state sets.
    """
    if fold:
        subject, others = subject.lower(), [o.lower() for o in others]
    sub = _Glob(subject)
    globs = [_Glob(o) for o in others]
    symbols = _alphabet([subject, *others])
    start = (sub.closure({0}), tuple(g.closure({0}) for g in globs))
    seen = {start}
    queue = deque([start])
    while queue:
        mine, theirs = queue.popleft()
        if sub.accepts(mine):
            hit = any(g.accepts(s) for g, s in zip(globs, theirs, strict=True))
            if hit == inside:
                return True
        for symbol in symbols:
            nxt_mine = sub.step(mine, symbol)
            if not nxt_mine:
                continue
            nxt = (nxt_mine, tuple(g.step(s, symbol) for g, s in zip(globs, theirs, strict=True)))
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return False


def _ends_clash(a: str, b: str) -> bool:
    """The fixed starts (before any ``*``) or fixed ends (after the last) disagree somewhere:
    then no name matches both. Most pairs differ in their service prefix and stop here."""
    for x, y in ((a, b), (a[::-1], b[::-1])):
        for cx, cy in zip(x, y, strict=False):
            if cx == "*" or cy == "*":
                break
            if cx != cy and cx != "?" and cy != "?":
                return True
    return False


def overlaps(a: str, b: str, *, fold: bool = True) -> bool:
    """Some name matches both globs (``s3:Delete*`` and ``s3:*Bucket``: ``s3:DeleteBucket``)."""
    if "*" in (a, b):
        return True  # every glob matches some name, and "*" matches them all
    if fold:
        a, b = a.lower(), b.lower()
    if _ends_clash(a, b):
        return False
    return _search(a, [b], inside=True, fold=False)


def covered(subject: str, by: Sequence[str], *, fold: bool = True) -> bool:
    """Every name matching `subject` matches at least one glob in `by`."""
    return not _search(subject, by, inside=False, fold=fold)


# --- documents -----------------------------------------------------------------------------


def parse_document(document: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """A policy document from an object, a JSON string, or a URL-encoded JSON string.

    IAM's own API returns documents URL-encoded (RFC 3986); CloudTrail records them as JSON
    text. ``+`` is left alone: IAM does not use it for spaces and it may be literal.
    """
    if isinstance(document, Mapping):
        return document
    if not isinstance(document, str):
        raise InvalidPolicyDocument(
            f"expected a JSON object or string, got {type(document).__name__}"
        )
    text = document.strip()
    if text.startswith("%7B") or text.startswith("%7b"):
        text = unquote(text)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPolicyDocument(f"not JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(parsed, dict):
        raise InvalidPolicyDocument(f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def _strings(statement: Mapping[str, Any], name: str, where: str) -> tuple[str, ...] | None:
    value = statement.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidPolicyDocument("must be a string or a list of strings", f"{where}.{name}")


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    sid: str | None
    allow: bool
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None


def statements(document: str | Mapping[str, Any]) -> tuple[Statement, ...]:
    """The statements of a document, checked for the parts this module reads."""
    doc = parse_document(document)
    raw = doc.get("Statement")
    if raw is None:
        raise InvalidPolicyDocument("missing", "Statement")
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise InvalidPolicyDocument("must be an object or a list of objects", "Statement")
    out = []
    for index, item in enumerate(items):
        where = f"Statement[{index}]"
        if not isinstance(item, dict):
            raise InvalidPolicyDocument("must be an object", where)
        effect = item.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise InvalidPolicyDocument(f"must be Allow or Deny, got {effect!r}", f"{where}.Effect")
        actions = _strings(item, "Action", where)
        not_actions = _strings(item, "NotAction", where)
        if (actions is None) == (not_actions is None):
            raise InvalidPolicyDocument("needs exactly one of Action and NotAction", where)
        sid = item.get("Sid")
        out.append(
            Statement(
                index=index,
                sid=sid if isinstance(sid, str) else None,
                allow=effect == "Allow",
                actions=actions,
                not_actions=not_actions,
                resources=_strings(item, "Resource", where),
                not_resources=_strings(item, "NotResource", where),
            )
        )
    return tuple(out)


# --- the question --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """A restricted pattern a statement allows, and the document's patterns responsible.

    ``via`` is ``Action`` (``granted`` are the document patterns overlapping the restricted
    one) or ``NotAction`` (``granted`` are the exclusions, none of which covers it).
    """

    restricted: str
    why: str
    statement: int
    sid: str | None
    via: str
    granted: tuple[str, ...]

    def describe(self) -> str:
        who = f"statement {self.statement}" + (f" ({self.sid})" if self.sid else "")
        if self.via == "Action":
            how = "Action " + ", ".join(self.granted)
        else:
            how = "NotAction " + ", ".join(self.granted) + " leaves it allowed"
        return f"{self.restricted} is allowed by {who}: {how}; {self.why}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "restricted": self.restricted,
            "why": self.why,
            "statement": self.statement,
            "sid": self.sid,
            "via": self.via,
            "granted": list(self.granted),
        }


def _grants_resources(statement: Statement, wanted: tuple[str, ...]) -> bool:
    """The statement grants on every resource of at least one of the `wanted` patterns."""
    if not wanted:
        return True
    for pattern in wanted:
        if statement.resources is not None:
            if covered(pattern, statement.resources, fold=False):
                return True
        elif statement.not_resources is not None and not any(
            overlaps(pattern, n, fold=False) for n in statement.not_resources
        ):
            return True
    return False


def restricted_matches(
    document: str | Mapping[str, Any], restricted: Iterable[Restricted]
) -> tuple[Match, ...]:
    """Every (restricted pattern, Allow statement) pair where the statement allows it."""
    stmts = [s for s in statements(document) if s.allow]
    out: list[Match] = []
    for entry in restricted:
        for st in stmts:
            if not _grants_resources(st, entry.resources):
                continue
            if st.actions is not None:
                granted = tuple(a for a in st.actions if overlaps(entry.action, a))
                if granted:
                    out.append(Match(entry.action, entry.why, st.index, st.sid, "Action", granted))
            elif st.not_actions is not None and not covered(entry.action, st.not_actions):
                out.append(
                    Match(entry.action, entry.why, st.index, st.sid, "NotAction", st.not_actions)
                )
    return tuple(out)
