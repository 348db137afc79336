"""The account ids remedy ships as examples, and the deploy check that none is left.

The shipped ``accounts.yaml`` names only ids that cannot be anyone's real account (twelve
equal digits, and the placeholders AWS's documentation uses), so that ``remedy explain``
and the demo work out of the box and a shipped policy trusts no stranger. Deploying it
as it is would still be wrong: its aggregator is not your Security Hub / Macie
administrator and its accounts are not yours. ``remedy policy validate --for-deploy``
(run by ``sam build`` and ``make deploy-core``) refuses any example id left in
``aggregators`` or ``accounts``; plain ``validate`` only warns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from remedy.policy_files import ACCOUNTS_FILE, read_checked
from remedy.policy_files.schema import problem

#: Twelve equal digits, and AWS documentation's placeholder account ids.
EXAMPLE_ACCOUNTS = frozenset(
    {digit * 12 for digit in "0123456789"} | {"123456789012", "111122223333", "444455556666"}
)


def example_accounts(document: Mapping[str, Any], file: Path) -> list[str]:
    """One ``file:path: message`` line per example id in a schema-valid accounts.yaml."""
    found: list[str] = []
    for i, account in enumerate(document.get("aggregators", ())):
        if account in EXAMPLE_ACCOUNTS:
            found.append(
                problem(
                    str(file),
                    ["aggregators", i],
                    f"{account} is an example account id shipped with remedy; put here the "
                    "account id of your own Security Hub / Macie administrator (the account "
                    "that delivers other accounts' findings), or remove the entry if you "
                    "have none",
                )
            )
    for account in document["accounts"]:
        if account in EXAMPLE_ACCOUNTS:
            found.append(
                problem(
                    str(file),
                    ["accounts", account],
                    f"{account} is an example account id shipped with remedy; list your own "
                    "member accounts here (id, name, environment, owners, Slack, approvers), "
                    "or remove this one",
                )
            )
    return found


def examples_in(folder: Path) -> list[str]:
    """`example_accounts` of the accounts.yaml in a policy folder that loads."""
    file = folder / ACCOUNTS_FILE
    return example_accounts(read_checked(file, "accounts.schema.json"), file)
