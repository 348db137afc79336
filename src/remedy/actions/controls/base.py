"""A Security Hub control fixed in place, and undone exactly: the shape every control
remediation shares.

``run``: find the resource (`locate`), read its setting, do nothing when it already
complies, else change it and record the setting before and after on the ledger entry.
``release``: read the setting again; if it is still what remedy left, put back what was
there before; if it is already that, say so; otherwise refuse and name what changed,
so a person's later change is never overwritten.

A control remediation is a subclass that says where its resource is and fills in four
small methods on a *setting*, a JSON-shaped dict (it goes to the ledger as it is):

- ``read(client, id, finding)``: the current setting; raise `Missing` when the resource
  does not exist;
- ``fixed(id, setting, options)``: the compliant setting (equal to `setting` when it complies),
  or, where that depends on more than the setting (a key's last use), ``target(client, id,
  setting, options, finding)``;
- ``write(client, id, old, new, finding)``: change `old` into `new`, used both to fix and
  to restore, so there is one place that knows the API;
- optionally ``restored(current, before, after)``: what release writes (default: `before`
  when `current` is still `after`, else None: refused);
- optionally ``note(client, id, before, after, finding)``: what else the fix's outcome
  should say (who the change reaches, what it left alone), read before the change.

``read`` or ``fixed`` raise `Refused` when the fix cannot be made as it must be (it could
not be undone exactly, or the resource is not what the control is about).

Every change is one call per resource (or, through `all_or_nothing`, calls undone in turn
when a later one fails), so a fault leaves the setting either as it was or
as remedy wants it; a redelivery then either makes the change (recording the same prior
setting) or finds it done (and says the prior setting was not recorded by that attempt).
When an undo fails too (`PartlyDone`), the setting left is read and recorded as a partial
fix with the setting found, so release puts all of it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from remedy.actions import aws_errors
from remedy.actions.controls.locate import ForeignResource, Located, locate
from remedy.actions.outcome import Outcome
from remedy.actions.reversible import ActionFailed, ReversibleAction, Undo
from remedy.ledger.base import State
from remedy.model import Action, Finding

Setting = dict[str, Any]


class Missing(Exception):
    """The resource does not exist (any more)."""


class Refused(Exception):
    """The fix cannot be made as it must be; the message says why and what to do."""


#: One call of a change and the call that undoes it.
Step = tuple[Callable[[], object], Callable[[], object]]


class PartlyDone(Exception):
    """A change failed part-way and undoing its first calls failed too: the setting is
    neither as it was nor as remedy wants it (`error` the fault, `undo` the undo's)."""

    def __init__(self, error: Exception, undo: list[Exception]) -> None:
        self.error = error
        self.undo = undo
        super().__init__(f"{error}; undoing: {'; '.join(map(str, undo))}")


def all_or_nothing(steps: Iterable[Step]) -> None:
    """Make each call in turn; when one fails, undo those made before it (last first) and
    raise its error, so a fault leaves the setting as it was, not half changed. When an
    undo fails too, the others are still tried and `PartlyDone` says so, for the caller to
    record what is left changed (else it is never put back)."""
    done: list[Callable[[], object]] = []
    for do, undo in steps:
        try:
            do()
        except BaseException as error:
            failed: list[Exception] = []
            for back in reversed(done):
                try:
                    back()
                except Exception as undo_error:
                    failed.append(undo_error)
            if failed and isinstance(error, Exception):
                raise PartlyDone(error, failed) from error
            raise
        done.append(undo)


@contextmanager
def missing_on(*codes: str) -> Iterator[None]:
    """AWS errors with one of `codes` (``InvalidSubnetID.NotFound``) mean `Missing`."""
    try:
        yield
    except aws_errors.AWS_ERRORS as error:
        if aws_errors.code(error) in codes:
            raise Missing from error
        raise


def shown(setting: Mapping[str, Any] | None) -> str:
    """A setting in words, e.g. ``HttpTokens optional`` or ``none``."""
    if setting is None:
        return "none"
    if not setting:
        return "nothing set"
    return ", ".join(f"{name} {_value(value)}" for name, value in setting.items())


def changes(expected: Mapping[str, Any] | None, current: Mapping[str, Any] | None) -> str:
    """What differs between the setting remedy left and the one found, in words."""
    if expected is None or current is None:
        return f"remedy left {shown(expected)}, now {shown(current)}"
    names = [n for n in {**expected, **current} if expected.get(n) != current.get(n)]
    return "; ".join(
        f"{n} was {_value(expected.get(n))} as remedy left it, now {_value(current.get(n))}"
        for n in names
    )


def _value(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]" if value else "[]"
    return str(value)


class ControlRemediation(ReversibleAction):
    """Base of the control remediations; see the module docstring.

    Each is shipped with one rule in ``policies/remediation.yaml``, named ``fix-<name>``,
    matching its `controls` with its `mode` as the action, e.g.::

        - id: fix-sqs-queue-encryption
          match:
            source: [securityhub]
            control_id: [SQS.1]
          action: quarantine
          remediation: sqs-queue-encryption
    """

    #: Security Hub control ids (``Compliance.SecurityControlId``) this fixes.
    controls: ClassVar[tuple[str, ...]] = ()
    #: The shipped rule's action for these controls: ``quarantine`` (fix at once) or ``approve``.
    mode: ClassVar[Action] = Action.APPROVE
    #: The boto3 client the calls go through.
    service: ClassVar[str] = ""
    #: What the resource is called in reasons, e.g. ``EBS snapshot``.
    noun: ClassVar[str] = ""
    #: The ARN service and resource prefixes that name this resource (``("sqs", ("",))``).
    arn: ClassVar[tuple[str, tuple[str, ...]]] = ("", ())
    #: Whether the identifier keeps the ARN's resource prefix (``cluster-snapshot:name``).
    keep_prefix: ClassVar[bool] = False
    #: ASFF and OCSF resource types whose bare (non-ARN) ids are read by `bare`.
    types: ClassVar[frozenset[str]] = frozenset()
    #: How a bare id starts (``subnet-``; ``""``: any name); None: only ARNs name it.
    id_prefix: ClassVar[str | None] = None
    #: Whether the resource is the account itself (the finding names ``AwsAccount``).
    account_level: ClassVar[bool] = False
    #: Operations authorised under another IAM name than ``service:Operation``.
    iam_names: ClassVar[Mapping[str, str]] = {}
    #: The IAM service prefix when it is not the client's name (``s3`` for ``s3control``).
    iam_service: ClassVar[str] = ""

    # -- what each control fills in ---------------------------------------------------

    def bare(self, ref: str, type: str) -> str | None:
        """The identifier in a non-ARN reference of a resource of `type` (one of `types`):
        a name without ``:`` or ``/`` starting with `id_prefix`, or None."""
        if self.id_prefix is None or any(c in ref for c in ":/"):
            return None
        return ref if ref.startswith(self.id_prefix) else None

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        raise NotImplementedError

    def fixed(self, id: str, setting: Setting, options: Mapping[str, Any]) -> Setting:
        raise NotImplementedError

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        raise NotImplementedError

    def target(
        self, client: Any, id: str, setting: Setting, options: Mapping[str, Any], finding: Finding
    ) -> Setting:
        """The compliant setting; by default `fixed`, which reads nothing but the setting."""
        return self.fixed(id, setting, options)

    def restored(self, current: Setting, before: Setting, after: Setting) -> Setting | None:
        """What release writes over `current`; None refuses (someone changed it)."""
        return before if current == after else None

    def note(self, client: Any, id: str, before: Setting, after: Setting, finding: Finding) -> str:
        """What else the fix's outcome says; read before the change ("" for nothing)."""
        return ""

    # -- shared ------------------------------------------------------------------------

    def _where(self, finding: Finding) -> Located | None:
        if self.account_level:
            return Located(finding.account, finding.region)
        service, prefixes = self.arn
        return locate(
            finding,
            service=service,
            prefixes=prefixes,
            keep_prefix=self.keep_prefix,
            types=self.types,
            bare=self.bare,
        )

    def _label(self, id: str, account: str) -> str:
        if self.account_level:
            return f"{self.noun} of account {account}"
        return f"{self.noun} {id} in {account}"

    def _blame(self, finding: Finding, doing: str) -> dict[str, Any]:
        """How `aws_errors` names a refused call: which account, doing what, which IAM name."""
        return {
            "account": finding.account,
            "doing": doing,
            "service": self.iam_service or self.service,
            "iam_names": self.iam_names,
        }

    def own_arn(self, client: Any, finding: Finding, resource: str) -> str:
        """The ARN of `resource` in the finding's own account and the client's region: calls
        take it instead of the finding's ARN, so they cannot reach another account."""
        meta = client.meta
        return f"arn:{meta.partition}:{self.arn[0]}:{meta.region_name}:{finding.account}:{resource}"

    def run(self, finding: Finding, options: Mapping[str, Any], *, resume: bool) -> Outcome:
        try:
            where = self._where(finding)
        except ForeignResource as foreign:
            return Outcome(
                State.FAILED,
                f"the finding in {finding.account} names a {self.noun} of account "
                f"{foreign.account}; remedy acts only in the finding's own account; nothing "
                "changed",
            )
        if where is None:
            return Outcome(State.FAILED, f"the finding names no {self.noun}; nothing changed")
        label = self._label(where.id, finding.account)
        try:
            client = self.sessions.client(
                self.service, finding.account, where.region, finding_key=finding.key
            )
            before = self.read(client, where.id, finding)
            after = self.target(client, where.id, before, options, finding)
            if after == before:
                earlier = (
                    " (an earlier attempt may have fixed it; the setting before it was not "
                    "recorded)"
                    if resume
                    else ""
                )
                return Outcome(
                    State.GONE, f"already compliant: {label} has {shown(before)}{earlier}"
                )
            note = self.note(client, where.id, before, after, finding)
            self.write(client, where.id, before, after, finding)
        except PartlyDone as partly:
            return self._partly(client, where, finding, before, partly)
        except Missing:
            return Outcome(State.GONE, f"{label} no longer exists; nothing changed")
        except Refused as refused:
            return Outcome(State.FAILED, f"{label}: {refused}; nothing changed")
        except aws_errors.AWS_ERRORS as error:
            return aws_errors.failure(error, **self._blame(finding, f"fixing {label}"))
        return Outcome(
            State.QUARANTINED,
            f"fixed {self._named(finding)}: {label} now has {shown(after)} "
            f"(before: {shown(before)})" + (f"; {note}" if note else ""),
            {"resource": where.id, "region": where.region, "before": before, "after": after},
        )

    def _named(self, finding: Finding) -> str:
        control = finding.parameters.get("control_id")
        return control if control in self.controls else ", ".join(self.controls)

    def _part_way(self, finding: Finding, doing: str, partly: PartlyDone) -> str:
        """What failed part-way and what failed undoing it, in words."""

        def said(error: Exception) -> str:
            if isinstance(error, aws_errors.AWS_ERRORS):
                return aws_errors.failure(error, **self._blame(finding, doing)).reason
            return f"{doing}: {type(error).__name__}: {error}"

        undo = "; ".join(map(said, partly.undo))
        return (
            f"the rest failed ({said(partly.error)}) and undoing what was done failed too ({undo})"
        )

    def _partly(
        self, client: Any, where: Located, finding: Finding, before: Setting, partly: PartlyDone
    ) -> Outcome:
        """A fix left half made: recorded with what it left, so release restores `before`
        (a redelivery would otherwise record the half-changed setting as the one found)."""
        label = self._label(where.id, finding.account)
        failed = self._part_way(finding, f"fixing {label}", partly)
        try:
            now = self.read(client, where.id, finding)
        except (Missing, Refused, *aws_errors.AWS_ERRORS):
            return Outcome(
                State.FAILED,
                f"{label}: {failed}; remedy could not read what is left: put back by hand "
                f"{shown(before)}",
                {"resource": where.id, "region": where.region, "before": before},
            )
        if now == before:  # the undo went through after all: nothing is left changed
            return aws_errors.failure(partly.error, **self._blame(finding, f"fixing {label}"))
        return Outcome(
            State.QUARANTINED,
            f"partly fixed {self._named(finding)}: {label} now has {shown(now)} (before: "
            f"{shown(before)}); {failed}; release puts back what it found",
            {"resource": where.id, "region": where.region, "before": before, "after": now},
        )

    def release(self, finding: Finding, attrs: Mapping[str, Any]) -> Undo:
        id, region = str(attrs["resource"]), str(attrs["region"])
        before, after = dict(attrs["before"]), dict(attrs["after"])
        label = self._label(id, finding.account)
        try:
            client = self.sessions.client(
                self.service, finding.account, region, finding_key=finding.key
            )
            current = self.read(client, id, finding)
            if current == before:
                return Undo(f"already restored: {label} has {shown(before)}")
            target = self.restored(current, before, after)
            if target is None:
                raise ActionFailed(
                    State.CHANGED,
                    f"{label} changed since remedy fixed it ({changes(after, current)}); "
                    "nothing restored, to keep that change",
                )
            self.write(client, id, current, target, finding)
        except PartlyDone as partly:
            raise ActionFailed(
                State.FAILED,
                f"{label}: restoring {shown(target)} went part-way: "
                f"{self._part_way(finding, f'restoring {label}', partly)}; put back by hand what "
                "is missing",
            ) from partly
        except Missing as error:
            raise ActionFailed(State.GONE, f"{label} no longer exists; nothing restored") from error
        except Refused as refused:
            raise ActionFailed(State.FAILED, f"{label}: {refused}; nothing restored") from refused
        except aws_errors.AWS_ERRORS as error:
            raise aws_errors.failed(error, **self._blame(finding, f"restoring {label}")) from error
        return Undo(f"restored {label} to {shown(target)}")


class SettingRemediation(ControlRemediation):
    """A control fixed by one named setting taking one value (``DeletionProtection`` on)."""

    #: The setting's name in `Setting` (and, usually, in the API).
    setting: ClassVar[str] = ""
    #: The value that complies.
    compliant: ClassVar[Any] = True

    def fixed(self, id: str, setting: Setting, options: Mapping[str, Any]) -> Setting:
        return {**setting, self.setting: self.compliant}
