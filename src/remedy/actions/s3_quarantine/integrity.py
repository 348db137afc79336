"""Is the copy the same bytes as the source? Size and checksum; never the ETag.

What is compared, and why:

- ETags are not comparable. An SSE-KMS object's ETag is not the MD5 of its content, a
  multipart object's ETag is an MD5 of its parts' MD5s with a ``-N`` suffix, and the copy
  is always SSE-KMS (quarantine key) and, when large, multipart, whatever the source was.
- S3 keeps a checksum with objects (CRC64NVME by default for new uploads, CRC32 when the
  SDK sent one, SHA-256 or others when asked); ``HeadObject(ChecksumMode=ENABLED)``
  returns it, as a full-object value or a composite ``value-N`` of part checksums.
- Single-request copy (under the multipart threshold): the copy is requested with the
  source's own full-object algorithm (``ChecksumAlgorithm``), so ``CopyObject`` answers
  the copy's checksum computed over the bytes it wrote, comparable with the source's
  stored value. Equal full-object checksums of one algorithm over the object mean equal
  content, so equal size; the size is not read again. A source with no full-object
  checksum (older objects, composite checksums) is streamed once and hashed here with
  SHA-256, and the copy is requested with SHA-256.
- Multipart copy (large objects): S3 builds SHA-256 as a composite, the SHA-256 of the
  parts' SHA-256 digests. The source version is streamed once and hashed over the same
  part boundaries (s3transfer's part size for that object size), and the result is
  compared with ``HeadObject`` of the copy, together with the size.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Algorithms S3 reports, in the order a stored checksum is picked.
ALGORITHMS: tuple[str, ...] = ("CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1")
#: What remedy computes itself (hashlib), and what it asks S3 for when it must compare
#: with its own computation.
OWN_ALGORITHM = "SHA256"


@dataclass(frozen=True, slots=True)
class Checksum:
    algorithm: str
    #: Base64 value, without any ``-N`` suffix.
    value: str
    #: For a composite checksum, the number of parts when S3 said it; None otherwise.
    parts: int | None = None
    composite: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"algorithm": self.algorithm, "value": self.value}
        if self.composite:
            out["composite"] = True
            if self.parts is not None:
                out["parts"] = self.parts
        return out


def reported(response: Mapping[str, Any]) -> Checksum | None:
    """The checksum in a HeadObject, CopyObject (``CopyObjectResult``) or GetObject answer."""
    for algorithm in ALGORITHMS:
        raw = response.get(f"Checksum{algorithm}")
        if not raw:
            continue
        value, _, parts = str(raw).partition("-")
        composite = bool(parts) or response.get("ChecksumType") == "COMPOSITE"
        return Checksum(algorithm, value, int(parts) if parts.isdigit() else None, composite)
    return None


def copy_algorithm(source: Checksum | None, *, multipart: bool) -> str:
    """The ``ChecksumAlgorithm`` to request on the copy so it can be compared."""
    if not multipart and source is not None and not source.composite:
        return source.algorithm
    return OWN_ALGORITHM


@dataclass(frozen=True, slots=True)
class Digest:
    size: int
    full: str
    composite: str
    parts: int


class SourceDigest:
    """SHA-256 of one object version, whole and over fixed-size parts, read once on demand.

    `read` returns the version's bytes as chunks (a streamed GetObject of that exact
    version, pinned by its ETag).
    """

    def __init__(self, read: Callable[[], Iterable[bytes]], part_size: int) -> None:
        self._read = read
        self._part_size = part_size
        self._result: Digest | None = None

    def result(self) -> Digest:
        if self._result is None:
            self._result = self._compute()
        return self._result

    def _compute(self) -> Digest:
        whole = hashlib.sha256()
        part = hashlib.sha256()
        in_part = 0
        part_digests: list[bytes] = []
        size = 0
        for chunk in self._read():
            view = memoryview(chunk)
            size += len(view)
            whole.update(view)
            while view:
                room = self._part_size - in_part
                piece, view = view[:room], view[room:]
                part.update(piece)
                in_part += len(piece)
                if in_part == self._part_size:
                    part_digests.append(part.digest())
                    part, in_part = hashlib.sha256(), 0
        if in_part or not part_digests:
            part_digests.append(part.digest())
        composite = hashlib.sha256(b"".join(part_digests)).digest()
        return Digest(
            size=size,
            full=base64.b64encode(whole.digest()).decode(),
            composite=base64.b64encode(composite).decode(),
            parts=len(part_digests),
        )


def same_bytes(
    *,
    source_size: int,
    source: Checksum | None,
    copy: Checksum | None,
    copy_size: int | None,
    digest: SourceDigest,
    multipart: bool,
) -> bool:
    """Does the copy hold the source's bytes? (see the module docstring for how)."""
    if copy is None:
        return False
    if copy_size is not None and copy_size != source_size:
        return False
    if multipart:
        if copy.algorithm != OWN_ALGORITHM:
            return False
        mine = digest.result()
        if copy.parts is not None and copy.parts != mine.parts:
            return False
        return mine.size == source_size and copy.value == mine.composite
    if copy.composite:
        return False
    if source is not None and not source.composite and source.algorithm == copy.algorithm:
        return copy.value == source.value
    if copy.algorithm == OWN_ALGORITHM:
        mine = digest.result()
        return mine.size == source_size and copy.value == mine.full
    return False
