"""RDS.8: deletion protection on a DB instance.

Approval by default: automation that deletes the instance (test environments torn down
nightly) fails until it turns protection off. Release turns it off again.
"""

from __future__ import annotations

from remedy.actions.controls.rds_instance import RdsInstanceSetting
from remedy.actions.registry import register


@register("rds-instance-deletion-protection")
class RdsInstanceDeletionProtection(RdsInstanceSetting):
    """Set ``DeletionProtection`` on."""

    controls = ("RDS.8",)
    setting = "DeletionProtection"
