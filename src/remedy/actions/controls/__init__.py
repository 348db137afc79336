"""Security Hub control remediations: each fixes one control's failing setting in place
and releases to exactly the setting it found (`base.ControlRemediation`).

Importing this package registers every one.
"""

from __future__ import annotations

from remedy.actions.controls import (  # noqa: F401
    alb_drop_invalid_headers,
    cloudtrail_log_validation,
    dynamodb_pitr,
    ebs_default_encryption,
    ebs_snapshots_private,
    ec2_default_sg,
    ec2_imdsv2,
    ecr_scan_on_push,
    iam_password_policy,
    iam_stale_access_keys,
    kms_rotation,
    lambda_public_policy,
    rds_cluster_deletion_protection,
    rds_instance_deletion_protection,
    rds_minor_upgrades,
    rds_private,
    rds_snapshots_private,
    s3_account_public_access,
    s3_tls_only,
    sns_encryption,
    sqs_encryption,
    ssm_document_private,
    subnet_public_ip,
)
