"""Tickets through the new Security Hub's own connectors (``CreateTicketV2``).

Security Hub opens the ticket in the Jira or ServiceNow its connector (named per account
in accounts.yaml, ``tickets.securityhub.connector``) points at, for an OCSF finding named
by its ``metadata.uid``. The occurrence's token is the ``ClientToken``, so a retried or
repaired create returns the same ticket. Security Hub cannot comment on or close the
tickets it opens: the lifecycle stops at the ticket's creation (`follows` is false), and
the direct back ends (jira, servicenow) are the ones that follow the entry.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from remedy.tickets.registry import Draft, TicketBackend, TicketError, TicketRef, register

#: Error codes that mean Security Hub is overloaded or down, not refusing this ticket.
_OUTAGE = frozenset({"ThrottlingException", "InternalServerException", "ServiceUnavailable"})


@register("securityhub")
class SecurityHubBackend(TicketBackend):
    target_field = "connector"
    follows = False
    reopens = False
    permissions = frozenset({"securityhub:CreateTicketV2"})

    def _client(self) -> Any:
        return (self.session or boto3.session.Session()).client("securityhub")

    def create(self, draft: Draft) -> TicketRef:
        parameters = draft.finding.get("parameters") or {}
        uid = parameters.get("metadata_uid")
        if parameters.get("format") != "ocsf" or not uid:
            raise TicketError(
                "Security Hub's CreateTicketV2 takes an OCSF finding with a metadata.uid; this "
                f"one is from {draft.finding.get('source')}: use ticket: jira or servicenow"
            )
        try:
            answer = self._client().create_ticket_v2(
                ConnectorId=draft.target["connector"],
                FindingMetadataUid=uid,
                ClientToken=draft.token,
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise TicketError(
                f"Security Hub CreateTicketV2: {error.get('Code')}: {error.get('Message')}",
                outage=error.get("Code") in _OUTAGE,
            ) from None
        except BotoCoreError as exc:
            raise TicketError(
                f"Security Hub CreateTicketV2: {type(exc).__name__}", outage=True
            ) from None
        return TicketRef("securityhub", answer["TicketId"], answer.get("TicketSrcUrl") or "")

    def find(self, draft: Draft) -> TicketRef | None:
        # The ClientToken makes a second create return the first ticket: nothing to search.
        return None
