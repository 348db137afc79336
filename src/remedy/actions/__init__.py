"""Remediation actions: each a class registered by name in `remedy.actions.registry`.

Importing this package registers every shipped action; `build` makes one instance of each
for a Lambda (or the CLI) to share.
"""

from __future__ import annotations

# Imported to register them: s3-quarantine and the guards (iam-policy-guard,
# detach-internet-gateway, s3-block-public-access, revoke-open-ingress) and the Security
# Hub control remediations (`controls`).
from remedy.actions import (  # noqa: F401
    contain_principal,
    controls,
    iam_policy_guard,
    igw_detach,
    isolate_instance,
    s3_block_public,
    s3_quarantine,
    sg_open_ingress,
)
from remedy.actions.registry import RemediationAction, actions
from remedy.actions.session import AccountSessions
from remedy.settings import Settings

__all__ = ["build"]


def build(sessions: AccountSessions, settings: Settings) -> dict[str, RemediationAction]:
    """One instance of every registered action, by name."""
    return {name: cls(sessions, settings) for name, cls in actions().items()}
