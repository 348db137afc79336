"""What the findings are about: samplesdata/ in one bucket per member account, and a
security group opened to the world.

- ``records-<account>`` in the first member: versioned.
- ``exports-<account>`` in the second: SSE-KMS by default with a key of that account.
- ``shared-<account>`` in the third: plain (S3's default SSE-S3), and made public by a
  bucket policy letting anyone read it, with no Block Public Access.
- ``partner-drop-<account>`` in the second: empty, and made public the same way (what the
  new Security Hub's S3.8 control finding is about).

Every file of samplesdata/ (its README aside) goes into every bucket under its path, so
each account also holds files no finding names, the clean one among them: the demo checks
they are never touched. What was stored is kept (`Stored`) to check against later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from remedy.demo.local_aws import LocalAWS

RDP = 3389


@dataclass(frozen=True, slots=True)
class Stored:
    account: str
    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int
    body: bytes
    encryption: str
    kms_key: str | None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class OpenGroup:
    """A security group with tcp 3389 open to 0.0.0.0/0 and ::/0."""

    account: str
    group_id: str
    vpc_id: str


@dataclass(frozen=True, slots=True)
class PublicBucket:
    account: str
    bucket: str


@dataclass
class Samples:
    objects: list[Stored]
    groups: list[OpenGroup]
    public: list[PublicBucket]

    def get(self, account: str, key: str) -> Stored:
        for stored in self.objects:
            if stored.account == account and stored.key == key:
                return stored
        raise KeyError(f"no sample {key} in {account}")


def upload(aws: LocalAWS, root: Path, members: tuple[str, str, str]) -> Samples:
    versioned, encrypted, plain = members
    files = sorted(
        p for p in (root / "samplesdata").rglob("*") if p.is_file() and p.name != "README.md"
    )
    objects: list[Stored] = []
    for account, bucket, kind in (
        (versioned, f"records-{versioned}", "versioned"),
        (encrypted, f"exports-{encrypted}", "sse-kms"),
        (plain, f"shared-{plain}", "plain"),
    ):
        s3 = aws.session(account).client("s3")
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region}
        )
        if kind == "versioned":
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        elif kind == "sse-kms":
            kms = aws.session(account).client("kms")
            key_id = kms.create_key(Description=f"{bucket} data")["KeyMetadata"]["Arn"]
            s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": key_id,
                            }
                        }
                    ]
                },
            )
        for path in files:
            key = path.relative_to(root / "samplesdata").as_posix()
            body = path.read_bytes()
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            objects.append(stored_sample(s3, account, bucket, key, body))
    drop = f"partner-drop-{encrypted}"
    aws.session(encrypted).client("s3").create_bucket(
        Bucket=drop, CreateBucketConfiguration={"LocationConstraint": aws.region}
    )
    public = [_make_public(aws, plain, f"shared-{plain}"), _make_public(aws, encrypted, drop)]
    return Samples(objects, [_open_group(aws, versioned)], public)


def stored_sample(s3: Any, account: str, bucket: str, key: str, body: bytes) -> Stored:
    """A sample object as S3 now holds it (its version), for the findings made about it."""
    head = s3.head_object(Bucket=bucket, Key=key)
    version = head.get("VersionId")
    return Stored(
        account=account,
        bucket=bucket,
        key=key,
        version_id=version if version and version != "null" else None,
        etag=head["ETag"].strip('"'),
        size=head["ContentLength"],
        body=body,
        encryption=head.get("ServerSideEncryption", ""),
        kms_key=head.get("SSEKMSKeyId"),
    )


def _make_public(aws: LocalAWS, account: str, bucket: str) -> PublicBucket:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AnyoneReads",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    aws.session(account).client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return PublicBucket(account, bucket)


def block_public_access(aws: LocalAWS, bucket: PublicBucket) -> dict[str, bool] | None:
    """The bucket's Block Public Access settings, None when it has none."""
    s3 = aws.session(bucket.account).client("s3")
    try:
        config: dict[str, bool] = s3.get_public_access_block(Bucket=bucket.bucket)[
            "PublicAccessBlockConfiguration"
        ]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise
    return config


def _open_group(aws: LocalAWS, account: str) -> OpenGroup:
    ec2 = aws.session(account).client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    group = ec2.create_security_group(
        GroupName="jump-host", Description="jump host", VpcId=vpc["VpcId"]
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": RDP,
                "ToPort": RDP,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "temporary RDP access"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            }
        ],
    )
    return OpenGroup(account, group, vpc["VpcId"])


def world_open(aws: LocalAWS, group: OpenGroup) -> bool:
    """Whether the group still lets the world in on 3389."""
    ec2 = aws.session(group.account).client("ec2")
    (found,) = ec2.describe_security_groups(GroupIds=[group.group_id])["SecurityGroups"]
    for permission in found["IpPermissions"]:
        if permission.get("FromPort") == RDP and any(
            r.get("CidrIp") == "0.0.0.0/0" for r in permission.get("IpRanges", [])
        ):
            return True
    return False
