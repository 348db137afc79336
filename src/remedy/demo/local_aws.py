"""moto's server on 127.0.0.1 (a free port), and sessions acting in any account of it.

`LocalAWS.start` points this whole process at the server: ``AWS_ENDPOINT_URL`` (honoured
by every boto3 client, remedy's included), fake base credentials, and the user's AWS
configuration files and other endpoints switched off, so nothing can reach real AWS.

Accounts are reached as moto intends: the base credentials (moto's default account)
assume ``OrganizationAccountAccessRole`` in the account, and moto files whatever those
credentials do under that account. ``MOTO_ACCOUNT_ID`` stays unset: it would override
every assumed role's account.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import boto3

from remedy.errors import RemedyError

ADMIN_ROLE = "OrganizationAccountAccessRole"
_ENV_BLOCKED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "MOTO_ACCOUNT_ID")


class LocalAWS:
    def __init__(self, region: str, workdir: Path) -> None:
        self.region = region
        self.workdir = workdir
        self._server: Any = None
        self._base: boto3.Session | None = None
        self.url = ""
        self._sessions: dict[str, boto3.Session] = {}
        self._credentials: dict[str, dict[str, str]] = {}

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> LocalAWS:
        # moto reads where to record requests when it is imported (see `recording`).
        os.environ["MOTO_RECORDER_FILEPATH"] = str(self.workdir / "moto-recording.jsonl")
        try:
            from moto.server import ThreadedMotoServer
        except ModuleNotFoundError as error:
            raise RemedyError(
                f"{error.name} is not installed: remedy demo needs the dev dependencies "
                "(make demo, or pip install -e '.[dev]')"
            ) from None

        # One line per request otherwise; moto also warns about every template resource
        # type its CloudFormation does not model (reported by the demo instead).
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        logging.getLogger("moto").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=r"moto\.")
        warnings.filterwarnings("ignore", message=r".*No Moto CloudFormation support")
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self._point_process_here()
        # Its own session, not boto3's default one, which belongs to the code under test.
        self._base = boto3.Session(region_name=self.region)
        # No Docker here: Lambda functions exist and accept invocations without running
        # code; the demo runs remedy's handlers itself (see `remedy.demo.lambda_runtime`).
        self._moto_api("config", {"lambda": {"use_docker": False}})
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        (self.workdir / "moto-recording.jsonl").unlink(missing_ok=True)

    def _point_process_here(self) -> None:
        for name in list(os.environ):
            if name in _ENV_BLOCKED or name.startswith("AWS_ENDPOINT_URL_"):
                del os.environ[name]
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.url,
                # moto's credentials for its default account: only used to assume roles.
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )

    @property
    def base(self) -> boto3.Session:
        """moto's default account (base credentials); only assumes roles and plays the
        organisation's management account."""
        if self._base is None:
            raise RuntimeError("the local AWS is not started")
        return self._base

    # -- moto's own API -----------------------------------------------------------------------
    def _moto_api(self, path: str, body: Any = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 server
            f"{self.url}/moto-api/{path}", data=data, method="POST" if data else "GET"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            payload: bytes = response.read()
        return payload

    def start_recording(self) -> None:
        """From now on moto's recorder keeps every request the server receives."""
        self._moto_api("recorder/reset-recording", {})
        self._moto_api("recorder/start-recording", {})

    def recorded(self) -> list[dict[str, Any]]:
        """The requests recorded so far, oldest first: ``{method, url, headers, body,
        body_encoded}`` each."""
        lines = self._moto_api("recorder/download-recording").decode().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def stop_recording(self) -> None:
        self._moto_api("recorder/stop-recording", {})

    # -- accounts -----------------------------------------------------------------------------
    def assume(self, role_arn: str) -> dict[str, str]:
        """Environment credentials of `role_arn` (moto does not check the trust policy: the
        demo assumes a function's role as Lambda would, and an account's admin role)."""
        if role_arn not in self._credentials:
            creds = self.base.client("sts").assume_role(
                RoleArn=role_arn, RoleSessionName="remedy-demo"
            )["Credentials"]
            self._credentials[role_arn] = {
                "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                "AWS_SESSION_TOKEN": creds["SessionToken"],
            }
        return self._credentials[role_arn]

    def credentials(self, account: str) -> dict[str, str]:
        """The admin role's credentials in `account`."""
        return self.assume(f"arn:aws:iam::{account}:role/{ADMIN_ROLE}")

    def management_client(self, service: str) -> Any:
        """A client of moto's default account, which plays the organisation's management
        account (the StackSet administrator)."""
        return self.base.client(service)

    def session(self, account: str) -> boto3.Session:
        """Acts in `account` as its administrator: set-up and reading back, never remedy."""
        if account not in self._sessions:
            creds = self.credentials(account)
            self._sessions[account] = boto3.Session(
                aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=creds["AWS_SESSION_TOKEN"],
                region_name=self.region,
            )
        return self._sessions[account]
