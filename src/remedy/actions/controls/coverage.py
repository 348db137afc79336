"""The coverage table of the Security Hub control remediations, made from the registry.

``python -m remedy.actions.controls.coverage > docs/controls.md`` writes the page;
``tests/test_controls_coverage.py`` fails when the page and the registry disagree.
"""

from __future__ import annotations

import sys

from remedy.actions import controls  # noqa: F401  (registers them)
from remedy.actions.controls.base import ControlRemediation
from remedy.actions.registry import actions
from remedy.actions.reversible import ReversibleAction
from remedy.model import Action

_MODES = {Action.QUARANTINE: "automatic", Action.APPROVE: "approve"}

HEADER = """\
# Security Hub controls remedy fixes

Generated from the action registry by `python -m remedy.actions.controls.coverage`; do not
edit by hand (`tests/test_controls_coverage.py` fails when this page and the registry
disagree).

Each remediation reads the control's resource from the finding (ASFF
`Compliance.SecurityControlId` or OCSF `compliance.control`, and the resource's ARN or
bare id), reads the setting, does nothing when it already complies, and otherwise changes
it in one call per resource and records the setting before and after on the ledger entry.
`remedy release KEY` (or approving a contained entry) puts back exactly the setting it
found; if someone changed the setting since, release refuses and says what changed.

*Default mode* is the action of the shipped rule in `policies/remediation.yaml`:
**automatic** (`quarantine`) only where the fix cannot break a working application,
otherwise **approve**. *Permissions* are what the member role grants for it
(`member-account-template.yaml`).

"""


FOOTER = """
## What release can and cannot tell

- A setting that is one switch (PITR, rotation, deletion protection, …) can only be
  changed after the fix by switching it back: release then finds it already restored and
  writes nothing. Settings with more to them (Block Public Access, the password policy,
  a bucket policy, a topic's or queue's key, the account's public snapshots) are compared
  in full, and release refuses on any difference, naming each field that changed.
- S3.5 release removes only remedy's statement (`RemedyDenyInsecureTransport`), exactly
  as added; statements added to the bucket policy since are kept. It refuses when that
  statement was changed or removed.
- Every fix is one call per resource, so a fault leaves the setting as it was and the
  redelivery records the same prior setting. If the function dies after the change but
  before the ledger write, the redelivery finds the setting compliant and says the prior
  setting was not recorded by that attempt (`GONE`, nothing to release).
- A fix of several calls undoes the earlier ones when a later one fails. If an undo fails
  too, the others are still tried and the entry is `QUARANTINED` as *partly fixed*, with
  the setting found and the setting left, so release puts back all of it (a redelivery
  would otherwise record the half-changed setting as the one it found). A release that
  fails the same way is refused, naming what it was to restore.
- EC2.1 is reported on the account: every public snapshot the account owns in the
  region is made private, one call each; a fault between two snapshots leaves the
  earlier ones private, and the redelivery records only those still public.
- EC2.2 revokes every rule of a VPC's default security group, ingress and egress, and
  records each one source at a time (CIDR, IPv6 CIDR, prefix list or referenced group,
  with its description); release authorizes exactly those again, or refuses naming the
  rules found. The fix's outcome says how many network interfaces use the group. It is
  two calls (ingress, egress): when the second fails the first is undone, so the
  redelivery records the same rules. A group that is not a default group is refused.
- Lambda.1 removes only the statements of the function's policy that grant public access
  (a wildcard or empty principal, or `s3.amazonaws.com` (a bucket of any account),
  without a condition pinning the caller to fixed values of `AWS:SourceAccount`,
  `AWS:SourceArn`, `aws:PrincipalOrgID` and the like, as AWS Config's
  `lambda-function-public-access-prohibited` reads it; `Null`, negated, `IfExists` and
  `ForAllValues:` conditions let a caller without the key through), one call each, undone in
  turn if a later one fails; each is recorded whole. `lambda:AddPermission` can only
  make a public statement with one action, the function as resource, `*` or
  `s3.amazonaws.com` as principal and no condition:
  a public statement it could not make again exactly is left, and the outcome names its
  Sid (with none it could, nothing changes and the outcome says so). Release adds the
  removed statements back and keeps statements added since; it refuses when the public
  statements changed or a removed statement's Sid has been taken.
- IAM.3 and IAM.8 deactivate (never delete) the user's active access keys the finding's
  control condemns: IAM.3 those created more than `maxAccessKeyAge` days ago, IAM.8 those
  last used, or created if never used, more than `maxCredentialUsageAge` days ago (the
  finding's value of the parameter, else 90). Each key's status is recorded; release
  makes exactly the deactivated keys active again, and refuses naming a key that was
  deleted or whose status changed since. A stale console password (IAM.8) is named in
  the outcome and never removed: a deleted login profile cannot come back. A finding
  whose only stale credential is the password is refused, nothing changed.
- The issue's candidate "RDS.4" is snapshot *encryption*, which cannot be changed in
  place; RDS.1 covers both public DB snapshots and public DB cluster snapshots.
"""


def rows() -> list[tuple[str, str, str, str, str]]:
    """(control, remediation, default mode, permissions, reversible), by control id."""
    out = []
    for cls in actions().values():
        if not issubclass(cls, ControlRemediation):
            continue
        for control in cls.controls:
            out.append(
                (
                    control,
                    f"`{cls.name}`",
                    _MODES[cls.mode],
                    ", ".join(f"`{p}`" for p in sorted(cls.permissions)),
                    "yes" if issubclass(cls, ReversibleAction) else "no",
                )
            )
    return sorted(out, key=lambda row: _order(row[0]))


def _order(control: str) -> tuple[str, int]:
    service, _, number = control.partition(".")
    return service.lower(), int(number)


def render() -> str:
    lines = [
        "| control | remediation | default mode | permissions | reversible |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows()]
    controls_count = len(rows())
    remediations = len({row[1] for row in rows()})
    summary = f"\n{controls_count} controls by {remediations} remediations.\n"
    return HEADER + "\n".join(lines) + "\n" + summary + FOOTER


if __name__ == "__main__":
    sys.stdout.write(render())
