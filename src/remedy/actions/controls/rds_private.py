"""RDS.2: a DB instance no longer publicly accessible.

Approval by default: clients reaching the instance over the internet lose it. Release
makes it publicly accessible again.
"""

from __future__ import annotations

from remedy.actions.controls.rds_instance import RdsInstanceSetting
from remedy.actions.registry import register


@register("rds-not-public")
class RdsNotPublic(RdsInstanceSetting):
    """Set ``PubliclyAccessible`` off."""

    controls = ("RDS.2",)
    setting = "PubliclyAccessible"
    compliant = False
