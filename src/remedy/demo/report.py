"""What the demo tells: progress lines while it runs, then one table and the counts.

`Progress` prints timestamped lines. `Row` is one finding: what the policy decided, what
became of it (the ledger's state) and where its object is now. `Report` holds the rows,
the counts (Slack requests the local Slack server recorded, SNS messages the owner
mailbox queue received, Lambda invocations, log warnings and errors) and the claims
`remedy.demo.verify` checked; it prints as a table and writes as JSON (``--report``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO


class Progress:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __call__(self, line: str) -> None:
        print(f"[{self.elapsed:5.1f}s] {line}", file=self.out, flush=True)


#: How botocore reports a call moto's server has no route for.
_NOT_IN_MOTO = re.compile(r"\(404\) when calling the (\w+) operation")


class LogTally(logging.Handler):
    """Counts what remedy logged at WARNING and above, by message (first line)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[tuple[str, str]] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage().splitlines()[0][:160]
        except Exception:  # a broken log call must not break the demo
            message = str(record.msg)[:160]
        if record.exc_info and record.exc_info[1] is not None:
            cause = str(record.exc_info[1]).splitlines()[0]
            missing = _NOT_IN_MOTO.search(cause)
            if missing:
                cause = f"{missing.group(1)} is not implemented by moto (the local AWS)"
            message += f" [{cause[:120]}]"
        self.counts[(record.levelname, message)] += 1

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"level": level, "message": message, "count": n}
            for (level, message), n in sorted(self.counts.items())
        ]


@dataclass
class Row:
    label: str
    sample: str
    sender: str
    account: str
    key: str
    decision: str
    rule: str
    state: str
    where: str
    note: str = ""


@dataclass
class Claim:
    text: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    log_file: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.ok for c in self.claims)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 1),
            "findings": [asdict(r) for r in self.rows],
            "approvals": self.approvals,
            "counts": self.counts,
            "claims": [asdict(c) for c in self.claims],
            "problems": self.problems,
            "log_file": self.log_file,
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")

    def print(self, out: TextIO) -> None:
        headers = ("#", "finding", "account", "decision", "outcome", "object now")
        lines = [
            (
                str(i),
                row.label,
                row.account,
                row.decision,
                row.state + (f" ({row.note})" if row.note else ""),
                row.where,
            )
            for i, row in enumerate(self.rows, 1)
        ]
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
        print(file=out)
        for line in (headers, tuple("-" * w for w in widths), *lines):
            cells = (c.ljust(w) for c, w in zip(line, widths, strict=True))
            print("  ".join(cells).rstrip(), file=out)
        print(file=out)
        for approval in self.approvals:
            print(f"approval: {approval['summary']}", file=out)
        counts = self.counts
        print(
            f"Slack: {counts.get('slack_posts', 0)} messages posted, "
            f"{counts.get('slack_updates', 0)} updated in place, "
            f"{counts.get('slack_ephemeral', 0)} private replies",
            file=out,
        )
        by_account = counts.get("sns_by_account", {})
        spread = ", ".join(f"{a}: {n}" for a, n in sorted(by_account.items()))
        print(
            f"SNS: {counts.get('sns_notifications', 0)} owner notifications ({spread})",
            file=out,
        )
        invocations = counts.get("lambda_invocations", {})
        print(
            "Lambda: " + ", ".join(f"{n} x {name}" for name, n in sorted(invocations.items())),
            file=out,
        )
        for entry in counts.get("log", []):
            print(f"log {entry['level']} x{entry['count']}: {entry['message']}", file=out)
        print(file=out)
        for claim in self.claims:
            mark = "ok  " if claim.ok else "FAIL"
            print(
                f"[{mark}] {claim.text}" + (f": {claim.detail}" if claim.detail else ""), file=out
            )
        for problem in self.problems:
            print(f"[FAIL] {problem}", file=out)
        verdict = "all claims hold" if self.ok else "SOME CLAIMS ARE FALSE"
        print(f"\n{verdict}; {self.seconds:.1f} s; Lambda logs: {self.log_file}", file=out)
