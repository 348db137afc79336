"""The new Security Hub's OCSF copy of an ASFF finding, in either layout of its resources.

- ``arn`` layout: each resource's ``uid`` is its ARN (the bare id, if any, in ``uid_alt``);
- ``captured`` layout, as captured payloads show it (Elastic's test data, AWS's own
  remediation tests): ``uid`` is the bare id (an S3 object's key, a bucket's name, an
  instance id, a function name, a queue URL) and the ARN is in ``uid_alt``; an S3 object
  has no ARN at all, only its key, beside its bucket's own resource.

Only the fields remedy reads are carried over; everything else of the OCSF finding is
as AWS documents it ("OCSF findings in Security Hub").
"""

from __future__ import annotations

import copy
from typing import Any

ARN = "arn"
CAPTURED = "captured"

#: ASFF type to the CloudFormation type OCSF names.
CFN_TYPES = {
    "AwsS3Bucket": "AWS::S3::Bucket",
    "AwsS3Object": "AWS::S3::Object",
    "AwsEc2Instance": "AWS::EC2::Instance",
    "AwsEc2SecurityGroup": "AWS::EC2::SecurityGroup",
    "AwsIamPolicy": "AWS::IAM::Policy",
    "AwsIamRole": "AWS::IAM::Role",
    "AwsIamUser": "AWS::IAM::User",
    "AwsLambdaFunction": "AWS::Lambda::Function",
    "AwsSqsQueue": "AWS::SQS::Queue",
    "AwsEksCluster": "AWS::EKS::Cluster",
    "AwsEcsCluster": "AWS::ECS::Cluster",
    "AwsRdsDbInstance": "AWS::RDS::DBInstance",
}
_SEVERITY_ID = {"INFORMATIONAL": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}
_STATUS_ID = {"NEW": 1, "NOTIFIED": 2, "SUPPRESSED": 3, "RESOLVED": 4}
_COMPLIANCE_ID = {"PASSED": 1, "WARNING": 2, "FAILED": 3}


def bare_id(asff_type: str, arn: str) -> str:
    """The bare id a captured OCSF ``uid`` holds for the resource `arn` names."""
    tail = arn.split(":", 5)[5]
    if asff_type == "AwsS3Bucket":
        return tail
    if asff_type == "AwsS3Object":
        return tail.partition("/")[2]
    if asff_type == "AwsLambdaFunction":
        return tail.rpartition(":")[2] if tail.startswith("function:") else tail
    return tail.rpartition("/")[2].rpartition(":")[2]


def resource(asff: dict[str, Any], layout: str) -> dict[str, Any]:
    rtype = asff["Type"]
    arn = asff["Id"]
    out: dict[str, Any] = {"type": CFN_TYPES.get(rtype, rtype), "region": asff.get("Region")}
    bare = bare_id(rtype, arn)
    if layout == ARN:
        out["uid"] = arn
        if bare != arn and rtype != "AwsS3Object":
            out["uid_alt"] = bare
    elif rtype == "AwsS3Object":
        out["uid"] = bare
    else:
        out["uid"] = bare
        out["uid_alt"] = arn
    version = asff.get("Details", {}).get("AwsS3Object", {}).get("VersionId")
    if version:
        out["version"] = version
    tags = asff.get("Tags")
    if tags:
        out["tags"] = [{"name": k, "value": v} for k, v in tags.items()]
    return out


def finding(asff: dict[str, Any], layout: str) -> dict[str, Any]:
    label = asff["Severity"]["Label"]
    workflow = (asff.get("Workflow") or {}).get("Status") or asff.get("WorkflowState", "NEW")
    out: dict[str, Any] = {
        "activity_id": 1,
        "class_name": "Detection Finding",
        "severity": label.title(),
        "severity_id": _SEVERITY_ID[label],
        "status_id": _STATUS_ID[workflow],
        "cloud": {
            "provider": "AWS",
            "region": asff["Region"],
            "account": {"uid": asff["AwsAccountId"]},
        },
        "metadata": {
            "product": {
                "name": asff.get("ProductName", ""),
                # The new Security Hub's spelling of the same product.
                "uid": asff["ProductArn"].replace(":product/", ":productv2/"),
            }
        },
        "finding_info": {
            "uid": asff["Id"],
            "title": asff.get("Title", ""),
            "types": list(asff["Types"]),
        },
        "resources": [resource(r, layout) for r in asff.get("Resources", [])],
    }
    compliance = asff.get("Compliance")
    if compliance:
        out["compliance"] = {"status_id": _COMPLIANCE_ID[compliance["Status"]]}
        if compliance.get("SecurityControlId"):
            out["compliance"]["control"] = compliance["SecurityControlId"]
    return out


def ocsf_copy(asff_event: dict[str, Any], layout: str) -> dict[str, Any]:
    """The ``Findings Imported V2`` event of the same findings as `asff_event`."""
    event = copy.deepcopy(asff_event)
    event["detail-type"] = "Findings Imported V2"
    event["detail"] = {
        "findings": [finding(f, layout) for f in asff_event["detail"]["findings"]],
    }
    return event
