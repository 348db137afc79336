"""One case per control remediation: how to make its resource fail the control in a
member account, how to read the setting back, and how someone might change it after
remedy fixed it. `tests/test_action_controls.py` runs every case through the same tests,
and `bench/api_calls.py` counts each case's calls.

Each account gets a different prior setting where the API allows it, so a restore that
put back the wrong account's setting would show. Where the setting is one switch, the only
change anyone can make after the fix is switching it back: release then finds it already
restored (``drift_refused`` False) instead of refusing.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from freezegun import freeze_time

import remedy.actions  # noqa: F401  (registers every remediation)
from fixtures_guard import MEMBERS, REGION, admin
from remedy.actions.controls.alb_drop_invalid_headers import ATTRIBUTE as ALB_ATTRIBUTE
from remedy.actions.controls.base import ControlRemediation
from remedy.actions.controls.iam_password_policy import FIELDS as PASSWORD_FIELDS
from remedy.actions.registry import get

A, B = MEMBERS
OTHER = "333333333333"
Resources = tuple[tuple[str, str], tuple[str, str, str | None]]
#: Ids moto made during setup, by (case name, account).
MADE: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Case:
    #: The remediation's registered name.
    remediation: str
    #: Make the resource in the account, failing the control.
    setup: Callable[[str], None]
    #: The setting as the account's admin reads it (compared before, after, restored).
    observe: Callable[[str], Any]
    #: Someone changes the setting after remedy fixed it.
    drift: Callable[[str], None]
    #: The finding's resource for an account: ASFF (type, id), OCSF (type, uid, uid_alt).
    resource: Callable[[str], Resources] | None = None
    drift_refused: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    #: The permissions this case's fix and release use; None: all the action declares.
    uses: frozenset[str] | None = None
    #: The finding's control, where the remediation's first is not the one under test.
    control_id: str = ""

    @property
    def action(self) -> type[ControlRemediation]:
        found = get(self.remediation)
        assert issubclass(found, ControlRemediation), self.remediation
        return found

    @property
    def name(self) -> str:
        return self.label or self.remediation

    @property
    def control(self) -> str:
        return self.control_id or self.action.controls[0]

    @property
    def permissions(self) -> frozenset[str]:
        return self.action.permissions if self.uses is None else self.uses

    def resources(self, account: str) -> Resources:
        if self.resource is None:
            return ("AwsAccount", f"AWS::::Account:{account}"), ("AWS::::Account", account, None)
        return self.resource(account)


def arn_resource(asff: str, ocsf: str, arn: Callable[[str], str]) -> Callable[[str], Resources]:
    return lambda account: ((asff, arn(account)), (ocsf, arn(account), None))


def bare_resource(
    asff: str, ocsf: str, arn: Callable[[str], str], bare: Callable[[str], str]
) -> Callable[[str], Resources]:
    """ASFF names the ARN; OCSF the bare id in ``uid`` and the ARN in ``uid_alt``."""
    return lambda account: ((asff, arn(account)), (ocsf, bare(account), arn(account)))


def made(name: str) -> Callable[[str], str]:
    return lambda account: MADE[(name, account)]


# -- S3.1 ----------------------------------------------------------------------------------
_PARTIAL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": False,
    "BlockPublicPolicy": False,
    "RestrictPublicBuckets": False,
}


def _bpa_setup(account: str) -> None:
    if account == A:  # B keeps no configuration at all
        admin(account, "s3control").put_public_access_block(
            AccountId=account, PublicAccessBlockConfiguration=_PARTIAL
        )


def _bpa_observe(account: str) -> Any:
    client = admin(account, "s3control")
    try:
        return client.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
    except client.exceptions.NoSuchPublicAccessBlockConfiguration:
        return None


def _bpa_drift(account: str) -> None:
    admin(account, "s3control").put_public_access_block(
        AccountId=account,
        PublicAccessBlockConfiguration={**_PARTIAL, "RestrictPublicBuckets": True},
    )


# -- S3.5 ----------------------------------------------------------------------------------
def _bucket(account: str) -> str:
    return f"data-{account}"


def _tls_setup(account: str) -> None:
    s3 = admin(account, "s3")
    s3.create_bucket(Bucket=_bucket(account))
    if account == A:  # B has no bucket policy
        s3.put_bucket_policy(Bucket=_bucket(account), Policy=json.dumps(_reader_policy(account)))


def _reader_policy(account: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Readers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{_bucket(account)}/*",
            }
        ],
    }


def _tls_observe(account: str) -> Any:
    s3 = admin(account, "s3")
    try:
        return json.loads(s3.get_bucket_policy(Bucket=_bucket(account))["Policy"])
    except s3.exceptions.ClientError:
        return None


def _tls_drift(account: str) -> None:
    admin(account, "s3").delete_bucket_policy(Bucket=_bucket(account))


# -- EC2.1 ---------------------------------------------------------------------------------
def _snapshot(account: str) -> str:
    ec2 = admin(account, "ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    return str(ec2.create_snapshot(VolumeId=volume)["SnapshotId"])


def _snapshots_setup(account: str) -> None:
    ec2 = admin(account, "ec2")
    public = _snapshot(account)
    ec2.modify_snapshot_attribute(
        SnapshotId=public,
        Attribute="createVolumePermission",
        OperationType="add",
        GroupNames=["all"],
        UserIds=[OTHER] if account == A else [],
    )
    _snapshot(account)  # a private one, left alone


def _snapshots_observe(account: str) -> Any:
    ec2 = admin(account, "ec2")
    return {
        s["SnapshotId"]: ec2.describe_snapshot_attribute(
            SnapshotId=s["SnapshotId"], Attribute="createVolumePermission"
        )["CreateVolumePermissions"]
        for s in ec2.describe_snapshots(
            OwnerIds=[account], Filters=[{"Name": "owner-id", "Values": [account]}]
        )["Snapshots"]
    }


def _snapshots_drift(account: str) -> None:
    admin(account, "ec2").modify_snapshot_attribute(
        SnapshotId=_snapshot(account),
        Attribute="createVolumePermission",
        OperationType="add",
        GroupNames=["all"],
    )


# -- EC2.7 ---------------------------------------------------------------------------------
def _ebs_default_observe(account: str) -> Any:
    return admin(account, "ec2").get_ebs_encryption_by_default()["EbsEncryptionByDefault"]


def _ebs_default_drift(account: str) -> None:
    admin(account, "ec2").disable_ebs_encryption_by_default()


# -- EC2.8 ---------------------------------------------------------------------------------
def _instance_setup(account: str) -> None:
    ec2 = admin(account, "ec2")
    [instance] = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        MetadataOptions={"HttpTokens": "optional", "HttpEndpoint": "enabled"},
    )["Instances"]
    MADE[("imds", account)] = instance["InstanceId"]


def _imds_observe(account: str) -> Any:
    [reservation] = admin(account, "ec2").describe_instances(InstanceIds=[MADE[("imds", account)]])[
        "Reservations"
    ]
    return reservation["Instances"][0]["MetadataOptions"]["HttpTokens"]


def _imds_drift(account: str) -> None:
    admin(account, "ec2").modify_instance_metadata_options(
        InstanceId=MADE[("imds", account)], HttpTokens="optional"
    )


# -- EC2.15 --------------------------------------------------------------------------------
def _subnet_setup(account: str) -> None:
    ec2 = admin(account, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    MADE[("subnet", account)] = subnet


def _subnet_observe(account: str) -> Any:
    [subnet] = admin(account, "ec2").describe_subnets(SubnetIds=[MADE[("subnet", account)]])[
        "Subnets"
    ]
    return subnet["MapPublicIpOnLaunch"]


def _subnet_drift(account: str) -> None:
    admin(account, "ec2").modify_subnet_attribute(
        SubnetId=MADE[("subnet", account)], MapPublicIpOnLaunch={"Value": True}
    )


# -- RDS -----------------------------------------------------------------------------------
DB = "orders"
CLUSTER = "ledger"


def _db_setup(account: str) -> None:
    admin(account, "rds").create_db_instance(
        DBInstanceIdentifier=DB,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="admin1",
        MasterUserPassword="not-a-secret-1",
        PubliclyAccessible=True,
        DeletionProtection=False,
        AutoMinorVersionUpgrade=False,
    )


def _db_field(name: str) -> Callable[[str], Any]:
    def observe(account: str) -> Any:
        [found] = admin(account, "rds").describe_db_instances(DBInstanceIdentifier=DB)[
            "DBInstances"
        ]
        return found[name]

    return observe


def _db_set(name: str, value: bool) -> Callable[[str], None]:
    def drift(account: str) -> None:
        admin(account, "rds").modify_db_instance(
            DBInstanceIdentifier=DB, ApplyImmediately=True, **{name: value}
        )

    return drift


def _db_arn(account: str) -> str:
    return f"arn:aws:rds:{REGION}:{account}:db:{DB}"


_DB_RESOURCE = bare_resource("AwsRdsDbInstance", "AWS::RDS::DBInstance", _db_arn, lambda _: DB)


def _cluster_setup(account: str) -> None:
    admin(account, "rds").create_db_cluster(
        DBClusterIdentifier=CLUSTER,
        Engine="aurora-postgresql",
        MasterUsername="admin1",
        MasterUserPassword="not-a-secret-1",
        DeletionProtection=False,
    )


def _cluster_observe(account: str) -> Any:
    [found] = admin(account, "rds").describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"]
    return found["DeletionProtection"]


def _cluster_drift(account: str) -> None:
    admin(account, "rds").modify_db_cluster(
        DBClusterIdentifier=CLUSTER, ApplyImmediately=True, DeletionProtection=False
    )


def _db_snapshot_setup(account: str) -> None:
    _db_setup(account)
    rds = admin(account, "rds")
    rds.create_db_snapshot(DBInstanceIdentifier=DB, DBSnapshotIdentifier="nightly")
    values = ["all", OTHER] if account == A else ["all"]
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="nightly", AttributeName="restore", ValuesToAdd=values
    )


def _db_snapshot_observe(account: str) -> Any:
    result = admin(account, "rds").describe_db_snapshot_attributes(DBSnapshotIdentifier="nightly")
    return sorted(
        v
        for a in result["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
        for v in a["AttributeValues"]
    )


def _db_snapshot_drift(account: str) -> None:
    admin(account, "rds").modify_db_snapshot_attribute(
        DBSnapshotIdentifier="nightly", AttributeName="restore", ValuesToAdd=["all"]
    )


def _cluster_snapshot_setup(account: str) -> None:
    _cluster_setup(account)
    rds = admin(account, "rds")
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier=CLUSTER, DBClusterSnapshotIdentifier="weekly"
    )
    rds.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="weekly", AttributeName="restore", ValuesToAdd=["all"]
    )


def _cluster_snapshot_observe(account: str) -> Any:
    result = admin(account, "rds").describe_db_cluster_snapshot_attributes(
        DBClusterSnapshotIdentifier="weekly"
    )
    return sorted(
        v
        for a in result["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
        for v in a["AttributeValues"]
    )


def _cluster_snapshot_drift(account: str) -> None:
    admin(account, "rds").modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="weekly", AttributeName="restore", ValuesToAdd=["all"]
    )


# -- IAM password policy -------------------------------------------------------------------
def _password_setup(account: str) -> None:
    if account == A:  # B has no password policy
        admin(account, "iam").update_account_password_policy(
            MinimumPasswordLength=8, RequireNumbers=True, AllowUsersToChangePassword=True
        )


def _password_observe(account: str) -> Any:
    iam = admin(account, "iam")
    try:
        found = iam.get_account_password_policy()["PasswordPolicy"]
    except iam.exceptions.NoSuchEntityException:
        return None
    return {k: v for k, v in found.items() if k in PASSWORD_FIELDS}


def _password_drift(account: str) -> None:
    admin(account, "iam").update_account_password_policy(MinimumPasswordLength=20)


# -- KMS.4 ---------------------------------------------------------------------------------
def _key_setup(account: str) -> None:
    MADE[("key", account)] = admin(account, "kms").create_key()["KeyMetadata"]["KeyId"]


def _key_observe(account: str) -> Any:
    kms = admin(account, "kms")
    return kms.get_key_rotation_status(KeyId=MADE[("key", account)])["KeyRotationEnabled"]


def _key_drift(account: str) -> None:
    admin(account, "kms").disable_key_rotation(KeyId=MADE[("key", account)])


def _key_arn(account: str) -> str:
    return f"arn:aws:kms:{REGION}:{account}:key/{MADE[('key', account)]}"


# -- CloudTrail.4 --------------------------------------------------------------------------
def _trail_setup(account: str) -> None:
    bucket = f"trail-logs-{account}"
    admin(account, "s3").create_bucket(Bucket=bucket)
    admin(account, "cloudtrail").create_trail(
        Name="org-trail", S3BucketName=bucket, EnableLogFileValidation=False
    )


def _trail_observe(account: str) -> Any:
    trail = admin(account, "cloudtrail").get_trail(Name="org-trail")["Trail"]
    return trail.get("LogFileValidationEnabled", False)


def _trail_drift(account: str) -> None:
    admin(account, "cloudtrail").update_trail(Name="org-trail", EnableLogFileValidation=False)


def _trail_arn(account: str) -> str:
    return f"arn:aws:cloudtrail:{REGION}:{account}:trail/org-trail"


# -- SNS.1 ---------------------------------------------------------------------------------
def _topic_arn(account: str) -> str:
    return f"arn:aws:sns:{REGION}:{account}:alerts"


def _topic_setup(account: str) -> None:
    admin(account, "sns").create_topic(Name="alerts")


def _topic_observe(account: str) -> Any:
    found = admin(account, "sns").get_topic_attributes(TopicArn=_topic_arn(account))
    return found["Attributes"].get("KmsMasterKeyId") or None


def _topic_drift(account: str) -> None:
    admin(account, "sns").set_topic_attributes(
        TopicArn=_topic_arn(account), AttributeName="KmsMasterKeyId", AttributeValue="alias/team"
    )


# -- SQS.1 ---------------------------------------------------------------------------------
def _queue_url(account: str) -> str:
    return f"https://sqs.{REGION}.amazonaws.com/{account}/jobs"


def _queue_setup(account: str) -> None:
    admin(account, "sqs").create_queue(
        QueueName="jobs", Attributes={"SqsManagedSseEnabled": "false"}
    )


def _queue_observe(account: str) -> Any:
    found = admin(account, "sqs").get_queue_attributes(
        QueueUrl=_queue_url(account), AttributeNames=["All"]
    )["Attributes"]
    return (found.get("SqsManagedSseEnabled"), found.get("KmsMasterKeyId"))


def _queue_drift(account: str) -> None:
    admin(account, "sqs").set_queue_attributes(
        QueueUrl=_queue_url(account), Attributes={"KmsMasterKeyId": "alias/aws/sqs"}
    )


# -- DynamoDB.2 ----------------------------------------------------------------------------
def _table_setup(account: str) -> None:
    admin(account, "dynamodb").create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _table_observe(account: str) -> Any:
    found = admin(account, "dynamodb").describe_continuous_backups(TableName="orders")
    return found["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"
    ]


def _table_drift(account: str) -> None:
    admin(account, "dynamodb").update_continuous_backups(
        TableName="orders",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
    )


# -- ECR.1 ---------------------------------------------------------------------------------
def _repo_setup(account: str) -> None:
    admin(account, "ecr").create_repository(
        repositoryName="web", imageScanningConfiguration={"scanOnPush": False}
    )


def _repo_observe(account: str) -> Any:
    [repo] = admin(account, "ecr").describe_repositories(repositoryNames=["web"])["repositories"]
    return repo["imageScanningConfiguration"]["scanOnPush"]


def _repo_drift(account: str) -> None:
    admin(account, "ecr").put_image_scanning_configuration(
        repositoryName="web", imageScanningConfiguration={"scanOnPush": False}
    )


# -- SSM.4 ---------------------------------------------------------------------------------
_DOCUMENT = json.dumps(
    {
        "schemaVersion": "2.2",
        "description": "restart the agent",
        "mainSteps": [
            {"action": "aws:runShellScript", "name": "run", "inputs": {"runCommand": ["true"]}}
        ],
    }
)


def _document_setup(account: str) -> None:
    ssm = admin(account, "ssm")
    ssm.create_document(Content=_DOCUMENT, Name="restart-agent", DocumentType="Command")
    # A document is shared either with everyone or with named accounts, never both.
    ssm.modify_document_permission(
        Name="restart-agent", PermissionType="Share", AccountIdsToAdd=["all"]
    )


def _document_observe(account: str) -> Any:
    found = admin(account, "ssm").describe_document_permission(
        Name="restart-agent", PermissionType="Share"
    )
    return sorted(found.get("AccountIds", []))


def _document_drift(account: str) -> None:
    admin(account, "ssm").modify_document_permission(
        Name="restart-agent", PermissionType="Share", AccountIdsToAdd=["all"]
    )


# -- ELB.4 ---------------------------------------------------------------------------------
def _alb_setup(account: str) -> None:
    ec2 = admin(account, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    [lb] = admin(account, "elbv2").create_load_balancer(Name="web", Subnets=subnets)[
        "LoadBalancers"
    ]
    MADE[("alb", account)] = lb["LoadBalancerArn"]
    _alb_drift(account)  # AWS reports the attribute, false, on a new load balancer


def _alb_observe(account: str) -> Any:
    found = admin(account, "elbv2").describe_load_balancer_attributes(
        LoadBalancerArn=MADE[("alb", account)]
    )["Attributes"]
    return {a["Key"]: a["Value"] for a in found}.get(ALB_ATTRIBUTE)


def _alb_drift(account: str) -> None:
    admin(account, "elbv2").modify_load_balancer_attributes(
        LoadBalancerArn=MADE[("alb", account)],
        Attributes=[{"Key": ALB_ATTRIBUTE, "Value": "false"}],
    )


# -- EC2.2 ---------------------------------------------------------------------------------
#: The tags of one ingress rule of A's default group: release must give them back.
DEFAULT_SG_TAGS = [{"Key": "owner", "Value": "network"}, {"Key": "ticket", "Value": "NET-7"}]


def _default_sg_setup(account: str) -> None:
    ec2 = admin(account, "ec2")
    # With an IPv6 block: moto ignores IPv6 egress revokes in a VPC without one.
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    [group] = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    sg = group["GroupId"]
    MADE[("default-sg", account)] = sg
    if account == B:  # B keeps only AWS's allow-all egress
        return
    # As AWS makes it (members of the group reach each other), and more: a described and
    # tagged CIDR, IPv6 both ways, a prefix list; and an interface using the group.
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "-1",
                "UserIdGroupPairs": [{"GroupId": sg, "UserId": account, "Description": "self"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}],
                "PrefixListIds": [{"PrefixListId": "pl-12345678"}],
            },
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.9.0.0/16", "Description": "office"}],
            }
        ],
        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": DEFAULT_SG_TAGS}],
    )
    ec2.authorize_security_group_egress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "udp",
                "FromPort": 53,
                "ToPort": 53,
                "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "dns"}],
            }
        ],
    )
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_network_interface(SubnetId=subnet, Groups=[sg])


def default_sg_rules(account: str) -> Any:
    """Every rule of the group as EC2 lists them, one source each, without the rule ids
    (a rule authorized again gets a new id)."""
    found = admin(account, "ec2").describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [MADE[("default-sg", account)]]}]
    )["SecurityGroupRules"]
    return sorted(
        (json.dumps({k: v for k, v in r.items() if k != "SecurityGroupRuleId"}, sort_keys=True))
        for r in found
    )


def _default_sg_drift(account: str) -> None:
    admin(account, "ec2").authorize_security_group_ingress(
        GroupId=MADE[("default-sg", account)],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            }
        ],
    )


def _default_sg_arn(account: str) -> str:
    return f"arn:aws:ec2:{REGION}:{account}:security-group/{MADE[('default-sg', account)]}"


# -- Lambda.1 ------------------------------------------------------------------------------
FUNCTION = "api"


def _function_setup(account: str) -> None:
    role = admin(account, "iam").create_role(
        RoleName="api-runner", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("api.py", "def handler(event, context):\n    return None\n")
    lam = admin(account, "lambda")
    lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.11",
        Role=role,
        Handler="api.handler",
        Code={"ZipFile": code.getvalue()},
    )
    lam.add_permission(
        FunctionName=FUNCTION,
        StatementId="Anyone",
        Action="lambda:InvokeFunction",
        Principal="*",
    )
    if account == A:  # A also lets a bucket of its own invoke it, which is not public
        lam.add_permission(
            FunctionName=FUNCTION,
            StatementId="Uploads",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceAccount=account,
            SourceArn=f"arn:aws:s3:::uploads-{account}",
        )


def function_policy(account: str) -> Any:
    lam = admin(account, "lambda")
    try:
        policy = json.loads(lam.get_policy(FunctionName=FUNCTION)["Policy"])
    except lam.exceptions.ResourceNotFoundException:
        return None
    return sorted(policy["Statement"], key=lambda s: s["Sid"])


def _function_drift(account: str) -> None:
    admin(account, "lambda").add_permission(
        FunctionName=FUNCTION, StatementId="Later", Action="lambda:GetFunction", Principal="*"
    )


def _function_arn(account: str) -> str:
    return f"arn:aws:lambda:{REGION}:{account}:function:{FUNCTION}"


# -- IAM.3 and IAM.8 -----------------------------------------------------------------------
USER = "build-bot"


def days_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def new_key(account: str, created: int, used: int | None = None, user: str = USER) -> str:
    """A key of `user` created `created` days ago and, if `used`, last used `used` days ago:
    moto records both as the time of the call, so each call is made at that time."""
    with freeze_time(days_ago(created)):
        key = admin(account, "iam").create_access_key(UserName=user)["AccessKey"]
    if used is not None:
        with freeze_time(days_ago(used)):
            boto3.client(
                "sts",
                region_name=REGION,
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
            ).get_caller_identity()
    return str(key["AccessKeyId"])


def _keys_setup(account: str) -> None:
    iam = admin(account, "iam")
    iam.create_user(UserName=USER)
    if account == A:
        # Old and never used, and young: IAM.3 and IAM.8 both condemn the first only.
        MADE[("old-key", account)] = new_key(account, created=200)
        MADE[("young-key", account)] = new_key(account, created=10)
        # A console password, in use (moto dates it by the user's creation, today).
        iam.create_login_profile(UserName=USER, Password="Not-a-secret-1!")
    else:
        # Old but used last month, and old and unused since: IAM.3 condemns both.
        MADE[("old-key", account)] = new_key(account, created=300, used=120)
        MADE[("young-key", account)] = new_key(account, created=300, used=30)


def user_keys(account: str) -> Any:
    found = admin(account, "iam").list_access_keys(UserName=USER)["AccessKeyMetadata"]
    return {key["AccessKeyId"]: key["Status"] for key in found}


def _keys_drift(account: str) -> None:
    """Someone deletes the keys remedy deactivated."""
    iam = admin(account, "iam")
    for key, status in user_keys(account).items():
        if status == "Inactive":
            iam.delete_access_key(UserName=USER, AccessKeyId=key)


_USER_RESOURCE = bare_resource(
    "AwsIamUser",
    "AWS::IAM::User",
    lambda a: f"arn:aws:iam::{a}:user/{USER}",
    lambda _: "AIDAEXAMPLEUSERID0001",  # OCSF's uid is the user's id, not its name
)


CASES: tuple[Case, ...] = (
    Case("s3-account-block-public-access", _bpa_setup, _bpa_observe, _bpa_drift),
    Case(
        "s3-require-tls",
        _tls_setup,
        _tls_observe,
        _tls_drift,
        arn_resource("AwsS3Bucket", "AWS::S3::Bucket", lambda a: f"arn:aws:s3:::{_bucket(a)}"),
    ),
    Case(
        "ebs-snapshots-private",
        _snapshots_setup,
        _snapshots_observe,
        _snapshots_drift,
    ),
    Case(
        "ebs-default-encryption",
        lambda account: None,
        _ebs_default_observe,
        _ebs_default_drift,
        drift_refused=False,
    ),
    Case(
        "ec2-require-imdsv2",
        _instance_setup,
        _imds_observe,
        _imds_drift,
        bare_resource(
            "AwsEc2Instance",
            "AWS::EC2::Instance",
            lambda a: f"arn:aws:ec2:{REGION}:{a}:instance/{MADE[('imds', a)]}",
            made("imds"),
        ),
        drift_refused=False,
    ),
    Case(
        "subnet-no-public-ip",
        _subnet_setup,
        _subnet_observe,
        _subnet_drift,
        bare_resource(
            "AwsEc2Subnet",
            "AWS::EC2::Subnet",
            lambda a: f"arn:aws:ec2:{REGION}:{a}:subnet/{MADE[('subnet', a)]}",
            made("subnet"),
        ),
        drift_refused=False,
    ),
    Case(
        "rds-snapshots-private",
        _db_snapshot_setup,
        _db_snapshot_observe,
        _db_snapshot_drift,
        bare_resource(
            "AwsRdsDbSnapshot",
            "AWS::RDS::DBSnapshot",
            lambda a: f"arn:aws:rds:{REGION}:{a}:snapshot:nightly",
            lambda _: "nightly",
        ),
        drift_refused=False,
        uses=frozenset({"rds:DescribeDBSnapshotAttributes", "rds:ModifyDBSnapshotAttribute"}),
    ),
    Case(
        "rds-snapshots-private",
        _cluster_snapshot_setup,
        _cluster_snapshot_observe,
        _cluster_snapshot_drift,
        bare_resource(
            "AwsRdsDbClusterSnapshot",
            "AWS::RDS::DBClusterSnapshot",
            lambda a: f"arn:aws:rds:{REGION}:{a}:cluster-snapshot:weekly",
            lambda _: "weekly",
        ),
        drift_refused=False,
        label="rds-snapshots-private (cluster)",
        uses=frozenset(
            {"rds:DescribeDBClusterSnapshotAttributes", "rds:ModifyDBClusterSnapshotAttribute"}
        ),
    ),
    Case(
        "rds-not-public",
        _db_setup,
        _db_field("PubliclyAccessible"),
        _db_set("PubliclyAccessible", True),
        _DB_RESOURCE,
        drift_refused=False,
    ),
    Case(
        "rds-instance-deletion-protection",
        _db_setup,
        _db_field("DeletionProtection"),
        _db_set("DeletionProtection", False),
        _DB_RESOURCE,
        drift_refused=False,
    ),
    Case(
        "rds-minor-version-upgrades",
        _db_setup,
        _db_field("AutoMinorVersionUpgrade"),
        _db_set("AutoMinorVersionUpgrade", False),
        _DB_RESOURCE,
        drift_refused=False,
    ),
    Case(
        "rds-cluster-deletion-protection",
        _cluster_setup,
        _cluster_observe,
        _cluster_drift,
        bare_resource(
            "AwsRdsDbCluster",
            "AWS::RDS::DBCluster",
            lambda a: f"arn:aws:rds:{REGION}:{a}:cluster:{CLUSTER}",
            lambda _: CLUSTER,
        ),
        drift_refused=False,
    ),
    Case(
        "iam-password-policy",
        _password_setup,
        _password_observe,
        _password_drift,
    ),
    Case(
        "kms-key-rotation",
        _key_setup,
        _key_observe,
        _key_drift,
        bare_resource("AwsKmsKey", "AWS::KMS::Key", _key_arn, made("key")),
        drift_refused=False,
    ),
    Case(
        "cloudtrail-log-validation",
        _trail_setup,
        _trail_observe,
        _trail_drift,
        arn_resource("AwsCloudTrailTrail", "AWS::CloudTrail::Trail", _trail_arn),
        drift_refused=False,
    ),
    Case(
        "sns-topic-encryption",
        _topic_setup,
        _topic_observe,
        _topic_drift,
        arn_resource("AwsSnsTopic", "AWS::SNS::Topic", _topic_arn),
    ),
    Case(
        "sqs-queue-encryption",
        _queue_setup,
        _queue_observe,
        _queue_drift,
        # As the conformance payload has it: OCSF uid the queue URL, uid_alt the ARN.
        bare_resource(
            "AwsSqsQueue",
            "AWS::SQS::Queue",
            lambda a: f"arn:aws:sqs:{REGION}:{a}:jobs",
            _queue_url,
        ),
    ),
    Case(
        "dynamodb-pitr",
        _table_setup,
        _table_observe,
        _table_drift,
        arn_resource(
            "AwsDynamoDbTable",
            "AWS::DynamoDB::Table",
            lambda a: f"arn:aws:dynamodb:{REGION}:{a}:table/orders",
        ),
        drift_refused=False,
    ),
    Case(
        "ecr-scan-on-push",
        _repo_setup,
        _repo_observe,
        _repo_drift,
        arn_resource(
            "AwsEcrRepository",
            "AWS::ECR::Repository",
            lambda a: f"arn:aws:ecr:{REGION}:{a}:repository/web",
        ),
        drift_refused=False,
    ),
    Case(
        "ssm-document-private",
        _document_setup,
        _document_observe,
        _document_drift,
        arn_resource(
            "Other",
            "AWS::SSM::Document",
            lambda a: f"arn:aws:ssm:{REGION}:{a}:document/restart-agent",
        ),
        drift_refused=False,
    ),
    Case(
        "alb-drop-invalid-headers",
        _alb_setup,
        _alb_observe,
        _alb_drift,
        arn_resource(
            "AwsElbv2LoadBalancer", "AWS::ElasticLoadBalancingV2::LoadBalancer", made("alb")
        ),
        drift_refused=False,
    ),
    Case(
        "default-sg-closed",
        _default_sg_setup,
        default_sg_rules,
        _default_sg_drift,
        bare_resource(
            "AwsEc2SecurityGroup", "AWS::EC2::SecurityGroup", _default_sg_arn, made("default-sg")
        ),
    ),
    Case(
        "lambda-policy-not-public",
        _function_setup,
        function_policy,
        _function_drift,
        bare_resource(
            "AwsLambdaFunction", "AWS::Lambda::Function", _function_arn, lambda _: FUNCTION
        ),
    ),
    Case(
        "iam-stale-access-keys",
        _keys_setup,
        user_keys,
        _keys_drift,
        _USER_RESOURCE,
        uses=frozenset({"iam:ListAccessKeys", "iam:UpdateAccessKey"}),
    ),
    Case(
        "iam-stale-access-keys",
        _keys_setup,
        user_keys,
        _keys_drift,
        _USER_RESOURCE,
        label="iam-stale-access-keys (IAM.8)",
        control_id="IAM.8",
    ),
)
