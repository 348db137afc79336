"""Runtime settings, read once from the environment the templates set.

Only names and ARNs live in the environment; secret values (Slack token, signing secret,
email-link key) are fetched from Secrets Manager by ARN and cached.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from remedy.errors import RemedyError


class SettingError(RemedyError):
    """A ``REMEDY_*`` environment variable that cannot be read; the message names it."""


def _whole(env: Mapping[str, str], name: str, default: int, unit: str) -> int:
    text = env.get(name, "")
    if not text.strip():
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise SettingError(
            f"{name}={text!r} is not a whole number of {unit}: set it to one such as {default}, "
            "or unset it"
        )
    return value


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
    #: Days a finished ledger entry is kept before DynamoDB's TTL removes it.
    ledger_ttl_days: int = 365
    #: The email approval links: the HMAC key's secret, the HTTP API's base URL, and how
    #: long a link works. No secret or no URL: owners' emails carry no links.
    link_secret_arn: str = ""
    public_url: str = ""
    link_ttl_hours: int = 72
    #: The role in the management account (or a delegated administrator) that reads
    #: accounts' units and tags from AWS Organizations; empty: accounts.yaml alone.
    org_role_arn: str = ""
    #: The core stack's policy bucket (`remedy.policy_live`); empty: `policy_dir` alone.
    policy_bucket: str = ""
    #: How often a warm function asks the policy bucket for a new version.
    policy_refresh_seconds: float = 60.0
    #: Jira Cloud (`remedy.tickets.jira`): the site and the API token's secret.
    jira_site: str = ""
    jira_secret_arn: str = ""
    #: ServiceNow (`remedy.tickets.servicenow`): the instance and the API key's secret.
    servicenow_instance: str = ""
    servicenow_secret_arn: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of this environment; a value that cannot be read raises
        `SettingError` naming its variable."""
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
            ledger_ttl_days=_whole(env, "REMEDY_LEDGER_TTL_DAYS", 365, "days"),
            link_secret_arn=env.get("REMEDY_LINK_SECRET_ARN", ""),
            public_url=env.get("REMEDY_PUBLIC_URL", ""),
            link_ttl_hours=_whole(env, "REMEDY_LINK_TTL_HOURS", 72, "hours"),
            org_role_arn=env.get("REMEDY_ORG_ROLE_ARN", ""),
            policy_bucket=env.get("REMEDY_POLICY_BUCKET", ""),
            policy_refresh_seconds=float(env.get("REMEDY_POLICY_REFRESH_SECONDS", "60")),
            jira_site=env.get("REMEDY_JIRA_SITE", ""),
            jira_secret_arn=env.get("REMEDY_JIRA_SECRET_ARN", ""),
            servicenow_instance=env.get("REMEDY_SERVICENOW_INSTANCE", ""),
            servicenow_secret_arn=env.get("REMEDY_SERVICENOW_SECRET_ARN", ""),
        )

    def quarantine_bucket(self, account: str, region: str) -> str:
        return f"{self.quarantine_bucket_prefix}-quarantine-{account}-{region}"

    def quarantine_key_alias(self) -> str:
        """The quarantine buckets' KMS key, by the alias the member template gives it in
        every account and region (S3 resolves it in the bucket's own account and region)."""
        return f"alias/{self.quarantine_bucket_prefix}-quarantine"

    def remediation_role_arn(self, account: str) -> str:
        return f"arn:{self.partition}:iam::{account}:role/{self.remediation_role_name}"
