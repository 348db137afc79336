"""Runtime settings, read once from the environment the templates set.

Only names and ARNs live in the environment; secret values (Slack token, signing secret,
email-link key) are fetched from Secrets Manager by ARN and cached.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    ledger_table: str
    owner_topic_arn: str
    slack_secret_arn: str
    remediation_role_name: str
    external_id: str
    quarantine_bucket_prefix: str
    policy_dir: str | None
    remediator_function: str
    partition: str = "aws"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            ledger_table=env.get("REMEDY_LEDGER_TABLE", "remedy-ledger"),
            owner_topic_arn=env.get("REMEDY_OWNER_TOPIC_ARN", ""),
            slack_secret_arn=env.get("REMEDY_SLACK_SECRET_ARN", ""),
            remediation_role_name=env.get("REMEDY_REMEDIATION_ROLE_NAME", "remedy-remediation"),
            external_id=env.get("REMEDY_EXTERNAL_ID", ""),
            quarantine_bucket_prefix=env.get("REMEDY_QUARANTINE_PREFIX", "remedy"),
            policy_dir=env.get("REMEDY_POLICY_DIR"),
            remediator_function=env.get("REMEDY_REMEDIATOR_FUNCTION", ""),
            partition=env.get("REMEDY_PARTITION", "aws"),
        )

    def quarantine_bucket(self, account: str, region: str) -> str:
        return f"{self.quarantine_bucket_prefix}-quarantine-{account}-{region}"

    def remediation_role_arn(self, account: str) -> str:
        return f"arn:{self.partition}:iam::{account}:role/{self.remediation_role_name}"
