"""RDS.13: automatic minor version upgrades on a DB instance.

Approval by default: the engine is then upgraded in the maintenance window, which an
application pinned to a minor version may not expect. Release turns it off again.
"""

from __future__ import annotations

from remedy.actions.controls.rds_instance import RdsInstanceSetting
from remedy.actions.registry import register


@register("rds-minor-version-upgrades")
class RdsMinorVersionUpgrades(RdsInstanceSetting):
    """Set ``AutoMinorVersionUpgrade`` on."""

    controls = ("RDS.13",)
    setting = "AutoMinorVersionUpgrade"
