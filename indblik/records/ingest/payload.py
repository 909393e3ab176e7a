"""Reading untrusted payloads: bounded streams, nesting depth, JSON vs NDJSON, Bundle entries.

Everything that makes a payload unprocessable as a whole — too large, a line too long, nested
too deep, not UTF-8, not JSON, a Bundle of the wrong type, duplicate fullUrls — raises
:class:`PayloadRefused` *before* anything is stored. NDJSON is therefore read twice: a first
pass checks every line (spooling a non-seekable stream to a temporary file), the second feeds
the store line by line, so that memory stays bounded by one line and one chunk.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

import orjson

from indblik.records.ingest.result import Action, IngestError, PayloadRefused

if TYPE_CHECKING:
    from indblik.records.ingest.derive import Derived

JSON_TYPES = frozenset({"application/fhir+json", "application/json"})
NDJSON_TYPES = frozenset({"application/fhir+ndjson", "application/x-ndjson", "application/ndjson"})
BUNDLE_TYPES = ("transaction", "batch", "collection")
METHODS = ("POST", "PUT", "DELETE")
# A Bundle is planned in memory as a whole (a transaction must be): cap its entries so that
# 64 MB of tiny entries cannot become millions of objects. NDJSON has no such limit.
MAX_BUNDLE_ENTRIES = 50_000
_READ_SIZE = 1 << 20
_SPOOL_IN_MEMORY = 8 << 20
_BOM = b"\xef\xbb\xbf"

# A JSON string, escapes included (unrolled-loop form, no backtracking blow-up). An unclosed
# string matches to the end of the input: otherwise every later quote would restart a scan to
# the end, which is quadratic in the input size.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1


class Readable(Protocol):
    """A byte stream: a file, stdin's buffer or a Django request."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Limits:
    """How much one payload may hold (from ``INDBLIK_INGEST_MAX_*`` unless given)."""

    max_bytes: int
    max_line_bytes: int
    max_depth: int

    @classmethod
    def from_settings(cls, max_bytes: int | None = None) -> Limits:
        """Return the configured limits, optionally with another byte limit."""
        from django.conf import settings

        return cls(
            max_bytes=max_bytes if max_bytes is not None else settings.INDBLIK_INGEST_MAX_BYTES,
            max_line_bytes=settings.INDBLIK_INGEST_MAX_LINE_BYTES,
            max_depth=settings.INDBLIK_INGEST_MAX_DEPTH,
        )


@dataclass
class Entry:
    """One resource (or DELETE) to store, with where it came from in the payload."""

    index: int
    resource: Any  # a dict when well-formed; validated before use
    full_url: str | None = None
    method: str | None = None  # POST, PUT or DELETE in transaction/batch bundles
    url: str | None = None
    where: str = "entry"
    errors: list[IngestError] = field(default_factory=list)
    # Filled in by the store:
    resource_type: str = ""
    fhir_id: str = ""
    action: Action | None = None
    version: int | None = None
    digest: str = ""  # of the resource as sent (before references are rewritten)
    known_unchanged: bool = False  # identical to the stored version: validation skipped
    derived: Derived | None = None  # worked out once ``resource`` is valid (not for Patients)

    def fail(self, path: str, problem: str, code: str = "invalid") -> None:
        """Record a problem with this entry."""
        self.errors.append(IngestError(self.index, path, problem, code, self.where))


@dataclass
class Payload:
    """A parsed payload: what kind it is and its entries (lazily, for NDJSON)."""

    kind: str  # transaction, batch, collection, ndjson or resource
    entries: Iterator[Entry]
    size_hint: int | None = None


def refuse(
    problem: str, code: str, *, path: str = "", index: int | None = None, where: str = "entry"
) -> PayloadRefused:
    """Return the exception that refuses a whole payload."""
    return PayloadRefused(IngestError(index, path, problem, code, where))


class BoundedReader:
    """Read a stream, refusing it as soon as more than ``max_bytes`` have come through."""

    def __init__(self, stream: Readable, max_bytes: int) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.count = 0
        self._pushed_back = b""

    def _account(self, data: bytes) -> bytes:
        self.count += len(data)
        if self.count > self.max_bytes:
            raise refuse(f"the payload is larger than {self.max_bytes} bytes", "too-long")
        return data

    @property
    def has_pushed_back(self) -> bool:
        """Return True when bytes were pushed back and not read again yet."""
        return bool(self._pushed_back)

    def push_back(self, data: bytes) -> None:
        """Return bytes already read to the front of the stream (they stay counted)."""
        self._pushed_back = data + self._pushed_back

    def read_all(self) -> bytes:
        """Read to the end (at most ``max_bytes``)."""
        chunks = [self._pushed_back]
        self._pushed_back = b""
        while True:
            # Ask for one byte more than allowed: enough to know the limit is passed.
            chunk = self.stream.read(min(_READ_SIZE, self.max_bytes - self.count + 1))
            if not chunk:
                return b"".join(chunks)
            chunks.append(self._account(chunk))

    def readline(self, limit: int) -> bytes:
        """Read one line of at most ``limit`` bytes (a longer line is returned cut short)."""
        if self._pushed_back:
            newline = self._pushed_back.find(b"\n", 0, limit)
            end = newline + 1 if newline >= 0 else limit
            line, self._pushed_back = self._pushed_back[:end], self._pushed_back[end:]
            if line.endswith(b"\n") or len(line) >= limit:
                return line
            return line + self._account(self.stream.readline(limit - len(line)))
        return self._account(self.stream.readline(min(limit, self.max_bytes - self.count + 1)))


def deeper_than(data: bytes, max_depth: int) -> bool:
    """Return True when JSON text nests arrays/objects more than ``max_depth`` levels.

    A cheap scan before parsing: strings are cut out (brackets inside them do not count),
    then the running sum of +1/-1 per bracket is taken at C speed.
    """
    if data.count(b"{") + data.count(b"[") <= max_depth:
        return False
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > max_depth


def parse_json(
    data: bytes, limits: Limits, *, index: int | None = None, where: str = "entry"
) -> Any:
    """Parse one JSON document after the depth check, refusing it with a clear reason."""
    if deeper_than(data, limits.max_depth):
        raise refuse(
            f"JSON nested deeper than {limits.max_depth} levels",
            "too-costly",
            index=index,
            where=where,
        )
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise refuse("not valid UTF-8", "structure", index=index, where=where) from None
        # orjson's message gives a position, never the text around it.
        reason = str(exc).split(":", 1)[0] if str(exc) else "syntax error"
        raise refuse(f"not valid JSON ({reason})", "structure", index=index, where=where) from None


def read_payload(stream: Readable, *, content_type: str | None, limits: Limits) -> Payload:
    """Read a FHIR payload: a Bundle, a single resource or NDJSON (detected when no type)."""
    reader = BoundedReader(stream, limits.max_bytes)
    if content_type in NDJSON_TYPES:
        return _ndjson(stream, reader, limits)
    if content_type is None:
        seekable = _seekable(stream)
        start = cast(IO[bytes], stream).tell() if seekable else 0
        head, is_ndjson = _sniff(reader, limits)
        if seekable:
            cast(IO[bytes], stream).seek(start)
            reader = BoundedReader(stream, limits.max_bytes)
        else:
            reader.push_back(head)
        if is_ndjson:
            return _ndjson(stream, reader, limits)
    data = reader.read_all()
    document = parse_json(data.removeprefix(_BOM), limits)
    del data
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise refuse("the payload must be a FHIR resource or Bundle (a JSON object)", "structure")
    if document["resourceType"] == "Bundle":
        return _bundle(document)
    return Payload("resource", iter([Entry(0, document)]), 1)


def _sniff(reader: BoundedReader, limits: Limits) -> tuple[bytes, bool]:
    """Read the first line and the next non-blank one; return them and whether it is NDJSON."""
    first = reader.readline(limits.max_line_bytes + 1)
    if not (first.endswith(b"\n") and _is_object_line(first, limits)):
        return first, False
    head = [first]
    while True:
        line = reader.readline(limits.max_line_bytes + 1)
        head.append(line)
        if not line or line.strip():
            return b"".join(head), bool(line)


def _is_object_line(data: bytes, limits: Limits) -> bool:
    # One complete JSON object on the first line: NDJSON when more content follows. A
    # pretty-printed document does not parse line by line.
    line = data.split(b"\n", 1)[0].removeprefix(_BOM).strip()
    if not line.startswith(b"{") or deeper_than(line, limits.max_depth):
        return False
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _bundle(document: dict[str, Any]) -> Payload:
    bundle_type = document.get("type")
    if bundle_type not in BUNDLE_TYPES:
        raise refuse(
            "only transaction, batch and collection Bundles are accepted",
            "not-supported",
            path="Bundle.type",
        )
    raw_entries = document.get("entry", [])
    if not isinstance(raw_entries, list):
        raise refuse("must be an array", "structure", path="Bundle.entry")
    if len(raw_entries) > MAX_BUNDLE_ENTRIES:
        raise refuse(
            f"more than {MAX_BUNDLE_ENTRIES} entries: split the Bundle or send NDJSON",
            "too-long",
            path="Bundle.entry",
        )
    seen: dict[str, int] = {}
    entries = []
    for index, raw in enumerate(raw_entries):
        if not isinstance(raw, dict):
            entry = Entry(index, None)
            entry.fail(f"Bundle.entry[{index}]", "must be an object", "structure")
            entries.append(entry)
            continue
        full_url = raw.get("fullUrl")
        if full_url is not None and not isinstance(full_url, str):
            raise refuse("must be a string", "structure", path=f"Bundle.entry[{index}].fullUrl")
        if full_url:
            if full_url in seen:
                raise refuse(
                    f"the same fullUrl as entry {seen[full_url]}",
                    "duplicate",
                    path=f"Bundle.entry[{index}].fullUrl",
                    index=index,
                )
            seen[full_url] = index
        entries.append(_bundle_entry(index, raw, full_url, bundle_type))
    return Payload(bundle_type, iter(entries), len(entries))


def _bundle_entry(index: int, raw: dict[str, Any], full_url: str | None, bundle_type: str) -> Entry:
    entry = Entry(index, raw.get("resource"), full_url=full_url)
    if bundle_type == "collection":
        if not isinstance(entry.resource, dict):
            entry.fail(f"Bundle.entry[{index}].resource", "field required", "required")
        return entry
    request = raw.get("request")
    if not isinstance(request, dict):
        entry.fail(f"Bundle.entry[{index}].request", "field required", "required")
        return entry
    method, url = request.get("method"), request.get("url")
    if not isinstance(url, str) or not url:
        entry.fail(f"Bundle.entry[{index}].request.url", "field required", "required")
    if method not in METHODS:
        entry.fail(
            f"Bundle.entry[{index}].request.method",
            "only POST, PUT and DELETE are accepted",
            "not-supported",
        )
    elif method != "DELETE" and not isinstance(entry.resource, dict):
        entry.fail(f"Bundle.entry[{index}].resource", "field required", "required")
    if request.get("ifNoneExist") or request.get("ifMatch") or request.get("ifNoneMatch"):
        entry.fail(
            f"Bundle.entry[{index}].request",
            "conditional requests are not supported",
            "not-supported",
        )
    entry.method = method if isinstance(method, str) else None
    entry.url = url if isinstance(url, str) else None
    if method == "DELETE":
        entry.resource = None
    return entry


def _ndjson(stream: Readable, reader: BoundedReader, limits: Limits) -> Payload:
    seekable = _seekable(stream) and not reader.has_pushed_back
    start = cast(IO[bytes], stream).tell() if seekable else 0
    spool: IO[bytes] | None = None if seekable else _spool()
    lines = 0
    number = 0
    while True:
        line = reader.readline(limits.max_line_bytes + 1)
        if not line:
            break
        number += 1
        content = line.rstrip(b"\r\n")
        if len(content) > limits.max_line_bytes:
            raise refuse(
                f"longer than {limits.max_line_bytes} bytes",
                "too-long",
                index=number,
                where="line",
            )
        if spool is not None:
            spool.write(line)
        content = content.removeprefix(_BOM) if number == 1 else content
        if content.strip():
            parse_json(content, limits, index=number, where="line")
            lines += 1
    source: Readable
    if spool is not None:
        spool.seek(0)
        source = spool
    else:
        cast(IO[bytes], stream).seek(start)
        source = stream
    return Payload("ndjson", _ndjson_entries(source, spool, reader.count, limits), lines)


def _ndjson_entries(
    source: Readable, spool: IO[bytes] | None, size: int, limits: Limits
) -> Iterator[Entry]:
    # The second pass reads exactly the bytes the first pass checked: a file that grows or
    # changes in between cannot smuggle in an unchecked line.
    reader = BoundedReader(source, size)
    number = 0
    try:
        while reader.count < size:
            line = reader.readline(min(limits.max_line_bytes + 1, size - reader.count))
            if not line:
                break
            number += 1
            content = line.removeprefix(_BOM) if number == 1 else line
            if not content.strip():
                continue
            try:
                yield Entry(number, orjson.loads(content), where="line")
            except orjson.JSONDecodeError:
                entry = Entry(number, None, where="line")
                entry.fail("", "the file changed while it was read", "conflict")
                yield entry
    finally:
        if spool is not None:
            spool.close()


def _seekable(stream: Readable) -> bool:
    try:
        return bool(cast(IO[bytes], stream).seekable())
    except (AttributeError, ValueError, OSError):
        return False


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY, prefix="indblik-ingest-")
