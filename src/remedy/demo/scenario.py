"""The findings the demo emits, each built from a sample in events/ about what the demo
stored: the sample's bucket, key, version, ETag, size, account and security group are
replaced by the real ones; nothing else of the sample changes (a Macie finding and its
Security Hub copy keep the finding they share).

Each `Item` says which account's default bus emits it: the finding's own account, or the
core account for what Security Hub delivers as the administrator (aggregator). The forged
event is emitted by one member about another member's object. The last is emitted while
Slack is down: its approval request must reach Slack once Slack is back.

Every timestamp of a sample is moved by one amount, so that its latest is the moment the
demo builds it (`dated`): the findings are as new as the demo's run, and the report's
"time to remediate" measures the demo, not the age of the samples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from remedy.demo.samples import OpenGroup, PublicBucket, Samples, Stored


@dataclass(frozen=True, slots=True)
class Item:
    label: str
    sample: str
    sender: str
    event: dict[str, Any]
    #: What the finding is about (checked afterwards): S3 objects, a bucket, a group.
    objects: tuple[Stored, ...] = ()
    bucket: PublicBucket | None = None
    group: OpenGroup | None = None
    #: Sent again later as the same finding through another source (dedupe).
    same_as: str | None = None
    #: Emitted after the approvals, while the local Slack server is down.
    during_slack_outage: bool = False


def build(
    root: Path,
    samples: Samples,
    core: str,
    members: tuple[str, str, str],
    now: datetime | None = None,
) -> list[Item]:
    first, second, third = members
    moment = now or datetime.now(UTC)
    creds = samples.get(first, "credentials/deploy.env")
    personal = samples.get(first, "personal/customers.csv")
    cards = samples.get(second, "financial/card-payments.csv")
    third_creds = samples.get(third, "credentials/deploy.env")
    second_personal = samples.get(second, "personal/customers.csv")
    second_creds = samples.get(second, "credentials/deploy.env")
    public, partner_drop = samples.public
    eicar = samples.get(first, "malware/eicar.com")
    (group,) = samples.groups
    events = root / "events"

    def item(
        label: str,
        sample: str,
        sender: str,
        adapt: Callable[[dict[str, Any]], dict[str, Any]] = lambda event: event,
        **about: Any,
    ) -> Item:
        return Item(label, sample, sender, dated(adapt(_load(events / sample)), moment), **about)

    def macie(stored: Stored) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda event: macie_object_event(event, stored)

    return [
        item(
            "Macie: credentials in an object",
            "macie-classification-credentials.json",
            first,
            macie(creds),
            objects=(creds,),
        ),
        item(
            "Macie: card numbers, SSE-KMS bucket",
            "macie-classification-financial.json",
            second,
            macie(cards),
            objects=(cards,),
        ),
        item(
            "Macie: personal data",
            "macie-classification-personal.json",
            first,
            macie(personal),
            objects=(personal,),
        ),
        item(
            "the same finding via Security Hub",
            "securityhub-macie-personal-copy.json",
            core,
            lambda event: _asff_object(event, personal),
            objects=(personal,),
            same_as="macie-classification-personal.json",
        ),
        item(
            "GuardDuty (ASFF) via Security Hub",
            "securityhub-guardduty-ec2-command-and-control.json",
            core,
        ),
        item(
            "GuardDuty Malware Protection: EICAR in an upload",
            "guardduty-malware-scan-threats-found.json",
            first,
            lambda event: _scan_object(event, eicar),
            objects=(eicar,),
        ),
        item(
            "the same upload: GuardDuty's own finding",
            "guardduty-finding-s3-maliciousfile.json",
            first,
            lambda event: _guardduty_object(event, eicar),
            objects=(eicar,),
            same_as="guardduty-malware-scan-threats-found.json",
        ),
        item(
            "new Security Hub (OCSF): control S3.8, public bucket",
            "securityhub-v2-control-s3.8-block-public-access.json",
            core,
            lambda event: _ocsf_bucket(event, partner_drop),
            bucket=partner_drop,
        ),
        item(
            "new Security Hub (OCSF, as captured): credentials, object named by its key",
            "securityhub-v2-macie-credentials-captured-layout.json",
            core,
            lambda event: _ocsf_object(event, second_creds),
            objects=(second_creds,),
        ),
        item(
            "Macie: bucket policy made public",
            "macie-policy-s3bucketpublic.json",
            public.account,
            lambda event: _macie_bucket(event, public),
            bucket=public,
        ),
        item(
            f"forged: {second} reports {third}'s object",
            "macie-classification-forged-cross-account.json",
            second,
            macie(third_creds),
            objects=(third_creds,),
        ),
        item(
            "CloudTrail: RDP opened to the world",
            "cloudtrail-ec2-authorizesecuritygroupingress-world-rdp.json",
            group.account,
            lambda event: _group_event(event, group),
            group=group,
        ),
        item(
            "Macie: several kinds of data, while Slack is down",
            "macie-classification-multiple.json",
            second,
            macie(second_personal),
            objects=(second_personal,),
            during_slack_outage=True,
        ),
    ]


#: An ISO 8601 time as the samples write them (``2024-10-02T10:15:30.123Z``).
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})")


def dated(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    """`event` with every timestamp moved by one amount, so that the latest is `now`: the
    sample's own spacing (an object modified the day before its finding) stays."""
    found: list[datetime] = []

    def seen(text: str) -> str:
        found.append(_parse(text))
        return text

    _walk(event, seen)
    if not found:
        return event
    shift = now - max(found)
    moved: dict[str, Any] = _walk(event, lambda text: _moved(text, shift))
    return moved


def _walk(node: Any, change: Callable[[str], str]) -> Any:
    """`node` with `change` applied to every string that is a timestamp."""
    if isinstance(node, str):
        return change(node) if _STAMP.fullmatch(node) else node
    if isinstance(node, dict):
        return {k: _walk(v, change) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, change) for v in node]
    return node


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _moved(text: str, shift: timedelta) -> str:
    """`text` moved by `shift`, written as it was (its fraction digits, ``Z`` or offset)."""
    match = _STAMP.fullmatch(text)
    assert match is not None
    fraction, zone = match.groups()
    moment = _parse(text) + shift
    out = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction is not None:
        out += "." + f"{moment.microsecond:06d}"[: len(fraction)].ljust(len(fraction), "0")
    # The offset as written: the parsed moment keeps it.
    return out + zone


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _replace(node: Any, values: dict[str, str]) -> Any:
    """Every string in `node` with each old substring replaced by its new one."""
    if isinstance(node, str):
        for old, new in values.items():
            node = node.replace(old, new)
        return node
    if isinstance(node, dict):
        return {k: _replace(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, values) for v in node]
    return node


def macie_object_event(event: dict[str, Any], stored: Stored) -> dict[str, Any]:
    detail = event["detail"]
    obj = detail["resourcesAffected"]["s3Object"]
    bucket = detail["resourcesAffected"]["s3Bucket"]["name"]
    event = _replace(
        event,
        {f"{bucket}/{obj['key']}": f"{stored.bucket}/{stored.key}", bucket: stored.bucket},
    )
    event = _set_account(event, detail["accountId"], stored.account)
    obj = event["detail"]["resourcesAffected"]["s3Object"]
    obj.update(
        {
            "key": stored.key,
            "versionId": stored.version_id or "",
            "eTag": stored.etag,
            "size": stored.size,
            "extension": Path(stored.key).suffix.lstrip("."),
        }
    )
    return event


def _macie_bucket(event: dict[str, Any], public: PublicBucket) -> dict[str, Any]:
    detail = event["detail"]
    bucket = detail["resourcesAffected"]["s3Bucket"]["name"]
    event = _replace(event, {bucket: public.bucket})
    return _set_account(event, detail["accountId"], public.account)


def _asff_object(event: dict[str, Any], stored: Stored) -> dict[str, Any]:
    (finding,) = event["detail"]["findings"]
    path = finding["ProductFields"]["S3Object.Path"]
    bucket = path.split("/", 1)[0]
    event = _replace(event, {path: f"{stored.bucket}/{stored.key}", bucket: stored.bucket})
    (finding,) = event["detail"]["findings"]
    for resource in finding["Resources"]:
        details = resource.get("Details", {}).get("AwsS3Object")
        if details is not None:
            details["ETag"] = stored.etag
            if stored.version_id:
                details["VersionId"] = stored.version_id
            else:
                details.pop("VersionId", None)
    return _set_account(event, finding["AwsAccountId"], stored.account)


def _scan_object(event: dict[str, Any], stored: Stored) -> dict[str, Any]:
    """A Malware Protection scan result about `stored`; the plan ARN names its account."""
    details = event["detail"]["s3ObjectDetails"]
    event = _replace(event, {details["bucketName"]: stored.bucket})
    event = _set_account(event, event["account"], stored.account)
    event["detail"]["s3ObjectDetails"].update(
        {"objectKey": stored.key, "eTag": stored.etag, "versionId": stored.version_id}
    )
    return event


def _guardduty_object(event: dict[str, Any], stored: Stored) -> dict[str, Any]:
    (bucket,) = event["detail"]["resource"]["s3BucketDetails"]
    (obj,) = bucket["s3ObjectDetails"]
    event = _replace(event, {f"{bucket['name']}/{obj['key']}": f"{stored.bucket}/{stored.key}"})
    event = _replace(event, {bucket["name"]: stored.bucket})
    event = _set_account(event, event["detail"]["accountId"], stored.account)
    (obj,) = event["detail"]["resource"]["s3BucketDetails"][0]["s3ObjectDetails"]
    obj.update({"key": stored.key, "eTag": stored.etag, "versionId": stored.version_id})
    return event


def _ocsf_bucket(event: dict[str, Any], public: PublicBucket) -> dict[str, Any]:
    (finding,) = event["detail"]["findings"]
    (resource,) = finding["resources"]
    event = _replace(event, {resource["uid_alt"]: public.bucket})
    return _set_account(event, finding["cloud"]["account"]["uid"], public.account)


def _ocsf_object(event: dict[str, Any], stored: Stored) -> dict[str, Any]:
    """The captured layout: the bucket's resource has its name in ``uid``, the object's
    its key alone."""
    (finding,) = event["detail"]["findings"]
    bucket = next(r for r in finding["resources"] if r["type"] == "AWS::S3::Bucket")
    event = _replace(event, {bucket["uid"]: stored.bucket})
    event = _set_account(event, finding["cloud"]["account"]["uid"], stored.account)
    (finding,) = event["detail"]["findings"]
    obj = next(r for r in finding["resources"] if r["type"] == "AWS::S3::Object")
    obj["uid"] = stored.key
    obj.pop("version", None)
    if stored.version_id:
        obj["version"] = stored.version_id
    return event


def _group_event(event: dict[str, Any], group: OpenGroup) -> dict[str, Any]:
    sample_group = event["detail"]["requestParameters"]["groupId"]
    event = _replace(event, {sample_group: group.group_id})
    return _set_account(event, event["detail"]["recipientAccountId"], group.account)


def _set_account(event: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The finding's account `old` becomes `new` wherever it appears (ARNs included). The
    envelope's ``account`` is set again by EventBridge from the account that emits it."""
    replaced: dict[str, Any] = _replace(event, {old: new}) if old != new else event
    return replaced
