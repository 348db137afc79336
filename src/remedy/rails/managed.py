"""Resources managed as code: does the stack (or a tool the policy names) own it?

A resource CloudFormation deployed carries ``aws:cloudformation:stack-id`` (CDK and SAM
deploy through CloudFormation); Terraform and others carry a tag the policy names
(``rails.managed.tags``). A configuration fix made in place drifts back at the next
deploy, and is drift itself, so the rail asks first. Reading the tags is one call in the
member account, as the remediation role, and is made only for a rule that would change a
resource's configuration on its own: buckets (``GetBucketTagging``, which
s3-block-public-access declares for it), security groups and internet gateways (the
Describe call their remediations already make, which returns the tags). IAM policies are
not read: the IAM policy guard contains first and asks anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from remedy.model import Finding, Resource, ResourceKind
from remedy.policy.rails import STACK_ID_TAG

#: Clients of the member account: (service, account, region, finding key) -> client.
Clients = Callable[[str, str, str, str], Any]
STACK_NAME_TAG = "aws:cloudformation:stack-name"


@dataclass(frozen=True, slots=True)
class Owner:
    """Who manages a resource as code, in words: ``stack payments-prod``."""

    name: str
    resource: str

    def note(self) -> str:
        return f"{self.resource} is managed by {self.name}: fix it in code, or it will come back"


class TagsUnreadable(Exception):
    def __init__(self, resource: str, error: Exception) -> None:
        self.resource = resource
        code = (
            error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
        )
        super().__init__(f"the tags of {resource} could not be read ({code or error})")


def _tags(pairs: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {p["Key"]: p["Value"] for p in pairs}


def _read(clients: Clients, finding: Finding, resource: Resource) -> dict[str, str] | None:
    """The resource's tags with one call; None for a kind whose tags are not read."""
    account, region, key = finding.account, finding.region, finding.key
    if resource.kind is ResourceKind.S3_BUCKET and resource.bucket:
        s3 = clients("s3", account, region, key)
        try:
            return _tags(
                s3.get_bucket_tagging(Bucket=resource.bucket, ExpectedBucketOwner=account)["TagSet"]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchTagSet":
                return {}
            raise
    ec2_id = resource.name or resource.id.rsplit("/", 1)[-1]
    if resource.kind is ResourceKind.SECURITY_GROUP:
        ec2 = clients("ec2", account, region, key)
        (group,) = ec2.describe_security_groups(GroupIds=[ec2_id])["SecurityGroups"]
        return _tags(group.get("Tags", ()))
    if resource.kind is ResourceKind.INTERNET_GATEWAY:
        ec2 = clients("ec2", account, region, key)
        (gateway,) = ec2.describe_internet_gateways(InternetGatewayIds=[ec2_id])["InternetGateways"]
        return _tags(gateway.get("Tags", ()))
    return None


def owner(
    clients: Clients,
    finding: Finding,
    kinds: frozenset[ResourceKind],
    tag_keys: Iterable[str],
) -> Owner | None:
    """Who manages the first resource of `kinds` the finding names, or None; at most one
    call. `TagsUnreadable` if the call fails."""
    resource = next((r for r in finding.resources if not kinds or r.kind in kinds), None)
    if resource is None:
        return None
    label = resource.name or resource.bucket or resource.id
    try:
        tags = _read(clients, finding, resource)
    except (ClientError, BotoCoreError) as exc:
        raise TagsUnreadable(label, exc) from exc
    if not tags:
        return None
    if STACK_ID_TAG in tags:
        stack = tags.get(STACK_NAME_TAG) or tags[STACK_ID_TAG].split("/")[1]
        return Owner(f"stack {stack}", label)
    for tag in tag_keys:
        if tag in tags:
            return Owner(f"{tag}={tags[tag]}", label)
    return None
