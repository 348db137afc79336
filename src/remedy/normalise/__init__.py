"""Read any event remedy receives into findings of one model.

``normalise(event)`` checks the EventBridge envelope, routes on (``source``,
``detail-type``) through the registry, and returns the findings. Bad input of any shape
raises only `remedy.errors.InvalidEvent`, naming the JSON path of the offending field;
an event of several findings of which only some are bad raises its subclass
`remedy.errors.PartlyInvalid`, which carries the findings that could be read.

Whatever the source, a resource's region that is not a region's syntax is replaced by the
finding's own (validated) region here, once for every normaliser: it becomes console
hosts and boto3 endpoints, and a member writes it.
"""

from __future__ import annotations

from remedy.errors import InvalidEvent, PartlyInvalid
from remedy.model import Finding

# Imported for their @register side effect: each adds its normaliser to the registry.
from remedy.normalise import (  # noqa: F401
    cloudtrail,
    guardduty,
    macie,
    malware_scan,
    ocsf,
    securityhub,
)
from remedy.normalise import fields as f
from remedy.normalise.registry import lookup, normalisers
from remedy.regions import is_region, region_or

__all__ = ["normalise", "supported_sources"]


def supported_sources() -> dict[str, tuple[str, ...]]:
    """Each EventBridge source remedy reads, with its detail-types."""
    out: dict[str, list[str]] = {}
    for entry in normalisers():
        for source in entry.sources:
            out.setdefault(source, []).extend(entry.detail_types)
    return {source: tuple(out[source]) for source in sorted(out)}


def normalise(event: object) -> list[Finding]:
    """The findings in one EventBridge event; `InvalidEvent` if it cannot be read."""
    if not isinstance(event, dict):
        raise InvalidEvent(
            f"expected an EventBridge event (a JSON object), got {f.json_type(event)}"
        )
    source = event.get("source")
    detail_type = event.get("detail-type")
    account = event.get("account")
    # The common, well-formed envelope in one test; anything else is checked field by
    # field, in order, so the first wrong field is the one named.
    if not (
        isinstance(source, str)
        and source
        and isinstance(detail_type, str)
        and detail_type
        and isinstance(account, str)
        and len(account) == 12
        and account.isascii()
        and account.isdigit()
        and is_region(event.get("region"))
        and isinstance(event.get("detail"), dict)
    ):
        source = f.req_str(event, "source", "")
        detail_type = f.req_str(event, "detail-type", "")
        f.account_id(event, "account", "")
        f.region(event, "region", "")
        f.req_obj(event, "detail", "")
    entry = lookup(source, detail_type)
    if entry is None:
        supported = supported_sources()
        if source not in supported:
            raise InvalidEvent(
                f"unknown source {f.shown(source)}; supported: " + ", ".join(supported),
                "source",
            )
        raise InvalidEvent(
            f"unknown detail-type {f.shown(detail_type)} for source {source}; supported: "
            + ", ".join(supported[source]),
            "detail-type",
        )
    try:
        findings = entry.fn(event)
    except PartlyInvalid as partly:
        _regions_checked(partly.findings)
        raise
    return _regions_checked(findings)


def _regions_checked(findings: list[Finding]) -> list[Finding]:
    for finding in findings:
        for resource in finding.resources:
            # Most resources are in the finding's own region: nothing to check.
            if resource.region is not None and resource.region != finding.region:
                resource.region = region_or(resource.region, finding.region)
    return findings
