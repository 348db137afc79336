"""Security Hub control findings as AWS delivers them, ASFF and OCSF, for any control.

Built from AWS-published payloads in the conformance corpus (an FSBP control finding in
ASFF, one in OCSF) with the account, control and resource replaced, then read by the
real normalisers, so the control remediations are tested on what the normalisers make
of a control's resource, not on hand-built `Resource` values.
"""

from __future__ import annotations

import copy
from typing import Any

from conftest import CONFORMANCE, load_json
from fixtures_guard import REGION
from remedy.model import Finding
from remedy.normalise import normalise

_ASFF = load_json(CONFORMANCE / "securityhub-securityhub-control-fsbp-ec27-account-failed.json")
_OCSF = load_json(CONFORMANCE / "securityhub-v2-securityhub-control-sqs1-fail.json")
FORMATS = ("asff", "ocsf")


def asff_event(
    account: str, control: str, resource_type: str, resource_id: str, key: str = "f1"
) -> dict[str, Any]:
    event = copy.deepcopy(_ASFF)
    event["account"], event["region"] = account, REGION
    f = event["detail"]["findings"][0]
    f["AwsAccountId"] = account
    f["Id"] = f"arn:aws:securityhub:{REGION}:{account}:security-control/{control}/finding/{key}"
    f["Compliance"] = {"Status": "FAILED", "SecurityControlId": control}
    # The published file's failing check is INFORMATIONAL, which the default minimum
    # severity ignores; control findings are mostly MEDIUM.
    f["Severity"] = {"Label": "MEDIUM", "Normalized": 40, "Product": 40, "Original": "MEDIUM"}
    f["ProductFields"]["ControlId"] = control
    f["Resources"] = [
        {"Type": resource_type, "Id": resource_id, "Partition": "aws", "Region": REGION}
    ]
    return event


def ocsf_event(
    account: str,
    control: str,
    resource_type: str,
    uid: str,
    uid_alt: str | None = None,
    key: str = "f1",
) -> dict[str, Any]:
    event = copy.deepcopy(_OCSF)
    event["account"], event["region"] = account, REGION
    f = event["detail"]["findings"][0]
    f["cloud"]["account"]["uid"] = account
    f["cloud"]["region"] = REGION
    f["finding_info"]["uid"] = (
        f"arn:aws:securityhub:{REGION}:{account}:security-control/{control}/finding/{key}"
    )
    f["compliance"]["control"] = control
    item: dict[str, Any] = {
        "cloud_partition": "aws",
        "owner": {"account": {"uid": account}},
        "region": REGION,
        "type": resource_type,
        "uid": uid,
    }
    if uid_alt is not None:
        item["uid_alt"] = uid_alt
    f["resources"] = [item]
    return event


def control_finding(
    fmt: str,
    account: str,
    control: str,
    *,
    asff: tuple[str, str],
    ocsf: tuple[str, str, str | None],
    key: str = "f1",
) -> Finding:
    """One finding of `control` in `account`, in format `fmt`: `asff` is the ASFF resource
    (type, id), `ocsf` the OCSF one (type, uid, uid_alt)."""
    if fmt == "asff":
        event = asff_event(account, control, *asff, key=key)
    else:
        event = ocsf_event(account, control, *ocsf, key=key)
    [found] = normalise(event)
    assert found.parameters.get("control_id") == control
    return found
