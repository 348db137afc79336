"""Approvals: people deciding what remedy asked them about, and undoing what it did.

- `decide`: the one conditional ledger write a decision is, shared by every way to decide;
- `slack`: Slack button clicks (signature, approver check, decide, hand over);
- `email_links`: the signed, expiring, single-use links in the owners' email;
- `page`: the page such a link opens (GET shows, POST decides);
- `release`: undoing a remediation (a false positive), ``remedy release``;
- `deadlines`: approvals past their deadline, announced again or decided by rule.

Nothing is imported here, so an entry point loads only the module it uses.
"""
