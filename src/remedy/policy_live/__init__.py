"""The policy as live configuration: one versioned bundle in the core stack's bucket.

A policy folder's files travel together as one `bundle.Bundle` (a change is atomic), kept
as successive versions of one object in the versioned, KMS-encrypted, private bucket the
core template creates (``PolicyBucket``). ``remedy policy push`` validates a folder and
writes a new version (`bucket.PolicyBucket`); every function holds a `loader.LivePolicy`
that reads it on a cold start and asks for a newer version at most once a minute with a
conditional GET, and never lets a bundle that fails validation take effect.
``remedy policy diff`` replays the ledger's stored findings through both policies
(`replay`). docs/policy-live.md is the user's guide.
"""
