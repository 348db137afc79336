"""Which resource of a finding a control remediation acts on, read defensively.

Security Hub names a control's resource differently by format and age: ASFF puts the ARN
in ``Resources[].Id`` (type ``AwsSqsQueue``), OCSF may put a bare id or a URL in ``uid``
and the ARN in ``uid_alt`` (type ``AWS::SQS::Queue``), and normalisers keep the ARN in
`Resource.id` and the bare id in `Resource.name`, or in ``details["arn"]``. So every
reference a resource carries is tried, and a reference counts only when it reads as this
remediation's resource: its ARN (service and resource prefix), or a bare id of a type
this remediation names.

Trust: a resource whose ARN names another account than the finding's is never acted on
(a finding in one account cannot steer the role at another account's resource).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from remedy.model import Finding, Resource

# https://sqs.<region>.amazonaws.com/<account>/<name>, as OCSF's ``uid`` names a queue.
_QUEUE_URL = re.compile(
    r"\Ahttps://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([0-9]{12})/([^/]+)/?\Z"
)


@dataclass(frozen=True, slots=True)
class Arn:
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn | None:
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return None
        return cls(parts[2], parts[3], parts[4], parts[5])


@dataclass(frozen=True, slots=True)
class Located:
    """The resource found: its identifier for the API calls and the region it lives in."""

    id: str
    region: str


class ForeignResource(Exception):
    """The only matching resource belongs to another account than the finding's."""

    def __init__(self, account: str) -> None:
        self.account = account
        super().__init__(account)


def references(resource: Resource) -> Iterator[str]:
    """Every string a resource may carry its identity in, ARN-bearing ones first; a queue
    URL is read as the queue's ARN, so the account in it is checked like an ARN's."""
    for value in (resource.id, resource.details.get("arn"), resource.details.get("uid_alt")):
        if isinstance(value, str) and value:
            yield _QUEUE_URL.sub(r"arn:aws:sqs:\1:\2:\3", value)
    if resource.name:
        yield resource.name


def locate(
    finding: Finding,
    *,
    service: str,
    prefixes: tuple[str, ...],
    keep_prefix: bool = False,
    types: frozenset[str],
    bare: Callable[[str, str], str | None] = lambda ref, type: None,
) -> Located | None:
    """The first resource of `finding` this remediation acts on.

    An ARN of `service` whose resource part starts with one of `prefixes` gives what follows
    the prefix (or, with `keep_prefix`, all of it); a non-ARN reference of a resource whose
    type is in `types` is read by `bare` (reference, type; None: not one). Raises
    `ForeignResource` when the only match is in another account.
    """
    foreign: str | None = None
    for resource in finding.resources:
        region = resource.region or finding.region
        refs = list(references(resource))
        arns = [arn for arn in map(Arn.parse, refs) if arn is not None and arn.service == service]
        # Any ARN of the resource naming another account rules the resource out, even
        # when its bare id would be read as ours. (EBS snapshot ARNs carry no account.)
        others = [arn.account for arn in arns if arn.account and arn.account != finding.account]
        if others:
            foreign = others[0]
            continue
        for arn in arns:
            for prefix in prefixes:
                if arn.resource.startswith(prefix) and len(arn.resource) > len(prefix):
                    found = arn.resource if keep_prefix else arn.resource[len(prefix) :]
                    return Located(found, arn.region or region)
        if resource.type in types:
            for ref in refs:
                bare_id = bare(ref, resource.type) if Arn.parse(ref) is None else None
                if bare_id:
                    return Located(bare_id, region)
    if foreign is not None:
        raise ForeignResource(foreign)
    return None
