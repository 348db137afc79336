"""Links into the AWS console for a finding, an S3 object, a CloudTrail event.

Every piece that comes from a finding is percent-encoded (object keys may hold spaces,
``+``, ``%``, ``?``, ``#``, unicode), so a link opens what the finding names, and a link
can never end early inside Slack's ``<url|label>`` syntax. The host is built from a region
only once it has a region's syntax (`remedy.regions`).
"""

from __future__ import annotations

from urllib.parse import quote

from remedy.regions import A_REGION, is_region, partition_of


def console_base(region: str) -> str:
    """The console's origin for `region`; ValueError for anything that is not a region,
    which would otherwise become the link's host."""
    if not is_region(region):
        raise ValueError(f"{region!r} is not {A_REGION}")
    partition = partition_of(region)
    if partition == "aws-cn":
        return f"https://{region}.console.amazonaws.cn"
    if partition == "aws-us-gov":
        return "https://console.amazonaws-us-gov.com"
    return f"https://{region}.console.aws.amazon.com"


def _q(text: str) -> str:
    return quote(text, safe="")


def s3_object_url(bucket: str, key: str, region: str, version_id: str | None = None) -> str:
    url = (
        f"{console_base(region)}/s3/object/{_q(bucket)}"
        f"?region={_q(region)}&bucketType=general&prefix={_q(key)}"
    )
    if version_id:
        url += f"&versionId={_q(version_id)}"
    return url


def s3_bucket_url(bucket: str, region: str) -> str:
    return f"{console_base(region)}/s3/buckets/{_q(bucket)}?region={_q(region)}&bucketType=general"


def macie_finding_url(finding_id: str, region: str) -> str:
    return f"{console_base(region)}/macie/home?region={_q(region)}#findings?itemId={_q(finding_id)}"


def securityhub_finding_url(finding_id: str, region: str) -> str:
    # The console reads its search filter URL-encoded twice: "Id\operator\:EQUALS\:<id>".
    needle = _q(_q(finding_id))
    return (
        f"{console_base(region)}/securityhub/home?region={_q(region)}#/findings?search="
        f"Id%3D%255Coperator%255C%253AEQUALS%255C%253A{needle}"
    )


def cloudtrail_event_url(event_id: str, region: str) -> str:
    return f"{console_base(region)}/cloudtrailv2/home?region={_q(region)}#/events/{_q(event_id)}"
