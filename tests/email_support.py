"""Fixtures for the email approval tests: the core account on moto (ledger, link key
secret, owners' topic read through an SQS queue, a remediator function whose invokes are
recorded) and the email-approval handler built against it, as Lambda would build it."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from conftest import fake_aws_credentials
from fixtures_guard import trust
from notify_support import REGION, TABLE, create_table, finding_from, owners_mailbox, put_entry
from remedy.approvals.email_links import LinkKey, LinkSigner
from remedy.handlers import email_approval
from remedy.ledger.base import Entry
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.model import Finding

LINK_KEY = "k3y-for-tests-only-0123456789abcdefghijklmnopqrstuv"
OTHER_KEY = "another-key-entirely-0123456789abcdefghijklmnopqrst"
PUBLIC_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com"
REMEDIATOR = "remedy-remediator"
# One botocore session for every test: it caches the service models, which a fresh session
# parses again (~0.7 s of JSON for the dozen clients a test builds).
_BOTOCORE = botocore.session.Session()


@dataclass
class Core:
    """The core account as the email-approval function sees it."""

    session: boto3.session.Session
    store: DynamoDBLedgerStore
    secret_arn: str
    topic_arn: str
    queue_url: str
    invoked: list[dict[str, Any]] = field(default_factory=list)

    def signer(self, **kwargs: Any) -> LinkSigner:
        """A signer with the deployed key (what the findings function signs with)."""
        key = LinkKey(self.secret_arn, client=self.session.client("secretsmanager"))
        return LinkSigner(key, base_url=PUBLIC_URL, **kwargs)

    def pending(self, event_file: str = "macie-classification-financial.json") -> Entry:
        return put_entry(self.store, finding_from(event_file))

    def put(self, finding: Finding) -> Entry:
        return put_entry(self.store, finding)

    def owner_messages(self) -> list[dict[str, Any]]:
        """What the owners' topic published since the last call (raw SNS deliveries)."""
        sqs = self.session.client("sqs")
        out = []
        while True:
            got = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            )
            for message in got.get("Messages", []):
                out.append(message)
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if not got.get("Messages"):
                return out


def _zip() -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return data.getvalue()


@pytest.fixture
def core(monkeypatch: pytest.MonkeyPatch) -> Iterator[Core]:
    fake_aws_credentials(monkeypatch, REGION)
    # moto runs no function code without docker: the remediator only records being invoked.
    with mock_aws(config={"lambda": {"use_docker": False}}):
        session = boto3.session.Session(botocore_session=_BOTOCORE, region_name=REGION)
        create_table(session.client("dynamodb"))
        secret_arn = session.client("secretsmanager").create_secret(
            Name="remedy/email-link-key", SecretString=LINK_KEY
        )["ARN"]
        topic_arn, queue_url = owners_mailbox(session, "remedy-owners", "owners-inbox")
        role = session.client("iam").create_role(
            RoleName="remedy-remediator",
            AssumeRolePolicyDocument=trust("lambda.amazonaws.com"),
        )["Role"]["Arn"]
        session.client("lambda").create_function(
            FunctionName=REMEDIATOR,
            Runtime="python3.13",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": _zip()},
        )
        core = Core(
            session,
            DynamoDBLedgerStore(TABLE, session.client("dynamodb")),
            secret_arn,
            topic_arn,
            queue_url,
        )

        def record(params: dict[str, Any], **_: Any) -> None:
            core.invoked.append(
                {
                    "function": params["FunctionName"],
                    "type": params["InvocationType"],
                    "payload": json.loads(params["Payload"]),
                }
            )

        hook = ("before-parameter-build.lambda.Invoke", record)
        session.events.register(*hook)
        for name, value in {
            "REMEDY_LEDGER_TABLE": TABLE,
            "REMEDY_LINK_SECRET_ARN": secret_arn,
            "REMEDY_OWNER_TOPIC_ARN": topic_arn,
            "REMEDY_REMEDIATOR_FUNCTION": REMEDIATOR,
            "REMEDY_PUBLIC_URL": PUBLIC_URL,
            "REMEDY_SLACK_SECRET_ARN": "",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("REMEDY_POLICY_DIR", raising=False)
        # The handler as Lambda builds it on its first request, with this session.
        monkeypatch.setattr(email_approval, "_app", email_approval.build(session))
        yield core
        session.events.unregister(*hook)
