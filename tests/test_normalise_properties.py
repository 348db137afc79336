"""Properties: any input gives findings or `InvalidEvent`, never another exception; the
same Macie finding, native or through Security Hub, gets one dedupe key.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CONFORMANCE, EVENTS, load_json
from remedy.errors import InvalidEvent
from remedy.model import Finding
from remedy.normalise import normalise

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAMPLES: dict[str, Any] = {
    f"{path.parent.name}/{path.name}": load_json(path)
    for path in sorted(CONFORMANCE.glob("*.json")) + sorted(EVENTS.glob("*.json"))
}
# What an STS RoleSessionName allows; keys leave room for a prefix of up to 29 characters.
SESSION_SAFE = re.compile(r"[A-Za-z0-9=,.@-]{1,35}")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    # Any code point, lone surrogates included (json.loads makes them from a \\ud800 escape).
    | st.text(st.characters(exclude_categories=()), max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)
replacements: st.SearchStrategy[Any] = (
    st.sampled_from([None, "", [], {}, 0, -1, 1.5, True, "x", 2**64]) | json_values
)


def check(event: object) -> None:
    """Normalise `event`: findings or `InvalidEvent`; anything else fails the test."""
    before = copy.deepcopy(event)
    try:
        findings = normalise(event)
    except InvalidEvent as error:
        assert isinstance(error.field, str) and error.message
        assert "\n" not in str(error)
    else:
        for finding in findings:
            assert isinstance(finding, Finding)
            assert SESSION_SAFE.fullmatch(finding.key)
            json.dumps(finding.to_dict())
    # Untouched; `is` for a bare NaN, which never equals itself (inside containers
    # equality checks identity first, and deepcopy keeps float objects).
    assert event is before or event == before


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += paths(child, (*prefix, index))
    return out


def mutate(event: Any, where: tuple[Any, ...], how: str, value: Any) -> Any:
    if not where:
        return value
    parent = event
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    if how == "delete":
        del parent[last]
    elif how == "retype":
        current = parent[last]
        parent[last] = (
            str(current)
            if not isinstance(current, str)
            else (int(current) if current.isdecimal() else 0)
        )
    else:
        parent[last] = value
    return event


@SETTINGS
@given(json_values)
def test_arbitrary_json_values(value: object) -> None:
    check(value)


@SETTINGS
@given(st.sampled_from(sorted(SAMPLES)), json_values)
def test_arbitrary_detail_behind_a_real_envelope(name: str, detail: object) -> None:
    event = copy.deepcopy(SAMPLES[name])
    event["detail"] = detail
    check(event)


def mutated(name: str, data: st.DataObject) -> Any:
    """Sample `name` with one to three of its paths deleted, retyped or replaced."""
    event = copy.deepcopy(SAMPLES[name])
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        where = data.draw(st.sampled_from(paths(event)))
        how = data.draw(
            st.sampled_from(["delete", "retype", "replace"]) if where else st.just("replace")
        )
        event = mutate(event, where, how, data.draw(replacements))
    return event


@SETTINGS
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_mutations_of_real_samples(name: str, data: st.DataObject) -> None:
    check(mutated(name, data))


@SETTINGS
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_mutations_of_finding_fields(name: str, data: st.DataObject) -> None:
    """The same, aimed at the detail: most paths in a sample are deep in the payload."""
    event = copy.deepcopy(SAMPLES[name])
    detail_paths = [p for p in paths(event) if p[:1] == ("detail",) and len(p) > 1]
    where = data.draw(st.sampled_from(detail_paths))
    how = data.draw(st.sampled_from(["delete", "retype", "replace"]))
    check(mutate(event, where, how, data.draw(replacements)))


MACIE_TYPES = {
    "Credentials": "Sensitive Data Identifications/Passwords/SensitiveData:S3Object-Credentials",
    "Financial": "Sensitive Data Identifications/Financial/SensitiveData:S3Object-Financial",
    "Personal": "Sensitive Data Identifications/PII/SensitiveData:S3Object-Personal",
    "CustomIdentifier": (
        "Sensitive Data Identifications/CustomIdentifier/SensitiveData:S3Object-CustomIdentifier"
    ),
    "Multiple": "Sensitive Data Identifications/Multiple/SensitiveData:S3Object-Multiple",
}


#: Where an S3 object is, drawn: its account, region, bucket and key.
OBJECTS = {
    "account": st.from_regex(r"[0-9]{12}", fullmatch=True),
    "region": st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]),
    "bucket": st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
    "key": st.text(min_size=1, max_size=60),
}
VERSIONS = st.from_regex(r"[A-Za-z0-9._]{1,32}", fullmatch=True)


@SETTINGS
@given(
    **OBJECTS,
    version=st.none() | st.just("") | VERSIONS,
    subtype=st.sampled_from(sorted(MACIE_TYPES)),
    envelope=st.sampled_from(["999999999999", "111111111111"]),
)
def test_native_and_security_hub_copy_share_one_key(
    account: str,
    region: str,
    bucket: str,
    key: str,
    version: str | None,
    subtype: str,
    envelope: str,
) -> None:
    native = copy.deepcopy(SAMPLES["events/macie-classification-personal.json"])
    detail = native["detail"]
    detail.update(accountId=account, region=region, type=f"SensitiveData:S3Object/{subtype}")
    detail["resourcesAffected"]["s3Bucket"]["name"] = bucket
    s3_object = detail["resourcesAffected"]["s3Object"]
    s3_object["key"] = key
    if version is None:
        del s3_object["versionId"]
    else:
        s3_object["versionId"] = version

    hub = copy.deepcopy(SAMPLES["events/securityhub-macie-personal-copy.json"])
    hub["account"] = envelope
    finding = hub["detail"]["findings"][0]
    finding.update(AwsAccountId=account, Region=region, Types=[MACIE_TYPES[subtype]])
    finding["FindingProviderFields"]["Types"] = finding["Types"]
    bucket_resource, object_resource = finding["Resources"]
    bucket_resource["Id"] = f"arn:aws:s3:::{bucket}"
    object_resource["Id"] = f"arn:aws:s3:::{bucket}/{key}"
    object_resource["Region"] = bucket_resource["Region"] = region
    details = object_resource["Details"]["AwsS3Object"]
    details.pop("VersionId", None)
    if version:
        details["VersionId"] = version

    # The new Security Hub's OCSF copy, with Macie's type as it is.
    ocsf = copy.deepcopy(SAMPLES["events/securityhub-v2-macie-personal-copy.json"])
    ocsf["account"] = envelope
    item = ocsf["detail"]["findings"][0]
    item["cloud"].update(region=region, account={"uid": account})
    item["finding_info"]["types"] = [f"SensitiveData:S3Object/{subtype}"]
    ocsf_bucket, ocsf_object = item["resources"]
    ocsf_bucket.update(uid=f"arn:aws:s3:::{bucket}", owner={"account": {"uid": account}})
    ocsf_object.update(uid=f"arn:aws:s3:::{bucket}/{key}", owner={"account": {"uid": account}})
    ocsf_object.pop("version", None)
    if version:
        ocsf_object["version"] = version

    (from_macie,) = normalise(native)
    (from_hub,) = normalise(hub)
    (from_ocsf,) = normalise(ocsf)
    assert from_macie.key == from_hub.key == from_ocsf.key
    assert from_macie.type == from_hub.type == from_ocsf.type
    assert from_macie.s3_objects[0].key == from_hub.s3_objects[0].key == key
    assert from_ocsf.s3_objects[0].key == key
    assert (
        from_macie.s3_objects[0].version_id
        == from_hub.s3_objects[0].version_id
        == from_ocsf.s3_objects[0].version_id
    )
    assert (from_macie.account, from_hub.account, from_ocsf.account) == (account,) * 3


#: The samples of GuardDuty Malware Protection and the new Security Hub (issue 11).
NEW_SAMPLES = sorted(
    name for name in SAMPLES if name.startswith(("events/guardduty-", "events/securityhub-v2-"))
)


@SETTINGS
@given(st.sampled_from(NEW_SAMPLES), st.data())
def test_mutations_of_the_malware_and_ocsf_samples(name: str, data: st.DataObject) -> None:
    """The mutations above, drawn from these samples only so each gets its share."""
    check(mutated(name, data))


@SETTINGS
@given(
    **OBJECTS,
    version=st.none() | VERSIONS,
)
def test_scan_result_and_guardduty_findings_share_one_key(
    account: str, region: str, bucket: str, key: str, version: str | None
) -> None:
    scan = copy.deepcopy(SAMPLES["events/guardduty-malware-scan-threats-found.json"])
    scan.update(account=account, region=region)
    scan["resources"] = [f"arn:aws:guardduty:{region}:{account}:malware-protection-plan/p"]
    scan["detail"]["s3ObjectDetails"].update(bucketName=bucket, objectKey=key, versionId=version)

    native = copy.deepcopy(SAMPLES["events/guardduty-finding-s3-maliciousfile.json"])
    native["detail"].update(accountId=account, region=region, partition=None)
    (bucket_details,) = native["detail"]["resource"]["s3BucketDetails"]
    bucket_details.update(name=bucket, arn=None)
    bucket_details["s3ObjectDetails"][0].update(key=key, versionId=version)

    hub = copy.deepcopy(SAMPLES["events/securityhub-guardduty-s3-maliciousfile.json"])
    finding = hub["detail"]["findings"][0]
    finding.update(AwsAccountId=account, Region=region)
    finding["Resources"][1]["Id"] = f"arn:aws:s3:::{bucket}/{key}"
    finding["Resources"][1]["Details"]["AwsS3Object"]["VersionId"] = version

    (from_scan,) = normalise(scan)
    (from_native,) = normalise(native)
    (from_hub,) = normalise(hub)
    assert from_scan.key == from_native.key == from_hub.key
    assert {f.s3_objects[0].key for f in (from_scan, from_native, from_hub)} == {key}


def test_samples_are_loaded() -> None:
    assert len(SAMPLES) == len(list(CONFORMANCE.glob("*.json"))) + len(list(EVENTS.glob("*.json")))
