"""Archived Hub snapshots: read the files, find their timestamps, validate their records.

An archive file is one of (DESIGN.md, "Archived snapshots"):

- ``array``: a bare JSON array of Hub model records;
- ``object``: ``{"fetched_at": ISO-8601, "models": [records]}``, where a ``date``
  field may stand instead of ``fetched_at`` (``fetched_at`` wins when both are
  present) and other keys (``source``, ...) are ignored;
- ``jsonl``: JSON Lines, one record object per line, blank lines ignored; chosen
  by a ``.jsonl``/``.ndjson`` suffix or by sniffing the content.

Timestamps inside a file keep their UTC offset; naive ones are taken as UTC.
Which timestamp a snapshot gets (option, file field, file name) is the import
command's decision; this module provides the pieces.

A whole-Hub file holds a million records. Array and object files are split
into their records' raw JSON first (`msgspec.Raw`: spans of the file's bytes,
no Python objects built), and each record is decoded only when it is read,
so validating a file never holds every record as a dict at once (with a
million, that alone was over a gigabyte). Decoding gives exactly what
`json.loads` gives: a record `msgspec` refuses (NaN, a lone surrogate, a
number out of range) is decoded by `json` instead, and a file it cannot split
takes the `json` path whole, with that module's errors.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import msgspec

from registry.gcpause import cyclic_gc_paused
from registry.records import HubRecord, RecordError, parse_hub_record

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
ARCHIVE_SUFFIXES = (".json", ".jsonl")


class ArchiveError(ValueError):
    """An archive file cannot be used; str() names the file and where the problem is."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        record_index: int | None = None,
        line: int | None = None,
        hub_id: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.message = message
        self.record_index = record_index
        self.line = line
        self.hub_id = hub_id
        where = []
        if line is not None:
            where.append(f"line {line}")
        if record_index is not None:
            where.append(f"record {record_index}")
        if hub_id:
            where.append(f"id {hub_id!r}")
        location = f" ({', '.join(where)})" if where else ""
        super().__init__(f"{self.path}{location}: {message}")


class RawRecords(Sequence):
    """A file's records as raw JSON objects, each decoded to a dict when read."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[msgspec.Raw]) -> None:
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [_decode_record(raw) for raw in self._raw[index]]
        return _decode_record(self._raw[index])

    def __iter__(self) -> Iterator[dict]:
        return map(_decode_record, self._raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # mutable-looking, like a list

    def __repr__(self) -> str:
        return f"<RawRecords: {len(self._raw)} record(s)>"


_decode_raw = msgspec.json.Decoder().decode


def _decode_record(raw: msgspec.Raw) -> dict:
    try:
        return _decode_raw(raw)
    except msgspec.MsgspecError:
        # What msgspec refuses and json takes (NaN, lone surrogates, 1e400).
        return json.loads(bytes(memoryview(raw)))


@dataclass
class ArchiveFile:
    path: Path
    taken_at: datetime | None
    # Dicts; for array and object files a `RawRecords`, decoded as read.
    records: Sequence[dict]
    digest: str
    format: str
    # For JSONL: the 1-based line number of each record, so errors can point at it.
    lines: list[int] | None = field(default=None, repr=False)


def _parse_taken_at(path: Path, key: str, value: object) -> datetime:
    if type(value) is not str or not value.strip():
        raise ArchiveError(path, f"'{key}' must be an ISO-8601 timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ArchiveError(path, f"'{key}' must be an ISO-8601 timestamp, got {value!r}") from None
    # Keep the file's own offset (DESIGN.md); only naive times are assumed UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _json_error(path: Path, exc: json.JSONDecodeError, *, line: int | None = None) -> ArchiveError:
    if line is None:
        return ArchiveError(
            path,
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            line=exc.lineno,
        )
    return ArchiveError(path, f"invalid JSON at column {exc.colno}: {exc.msg}", line=line)


def _read_jsonl(path: Path, text: str) -> tuple[list[dict], list[int]]:
    records: list[dict] = []
    lines: list[int] = []
    # split("\n") rather than splitlines(): U+2028 and friends may sit inside strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _json_error(path, exc, line=number) from None
        if type(value) is not dict:
            raise ArchiveError(
                path,
                f"a record must be a JSON object, got {type(value).__name__}",
                record_index=len(records),
                line=number,
            )
        records.append(value)
        lines.append(number)
    return records, lines


def _check_records(path: Path, records: object, what: str) -> list[dict]:
    if type(records) is not list:
        raise ArchiveError(path, f"{what} must be a JSON array, got {type(records).__name__}")
    for index, record in enumerate(records):
        if type(record) is not dict:
            raise ArchiveError(
                path,
                f"a record must be a JSON object, got {type(record).__name__}",
                record_index=index,
            )
    return records


def read_archive(path: str | Path) -> ArchiveFile:
    """Read one archive file (array, object or JSON Lines) without validating its records.

    Raises `ArchiveError` for an unreadable file, invalid JSON (with its line
    and column), a top level of the wrong shape, ``models`` that is not a list,
    a record that is not an object, or a bad ``fetched_at``/``date``.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArchiveError(path, f"cannot read file: {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if path.suffix.lower() not in JSONL_SUFFIXES:
        _check_utf8(path, data)
        archive = _read_split(path, data.removeprefix(codecs.BOM_UTF8), digest)
        if archive is not None:
            return archive
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArchiveError(path, f"not UTF-8 text (byte {exc.start})") from None

    if path.suffix.lower() in JSONL_SUFFIXES:
        records, lines = _read_jsonl(path, text)
        return ArchiveFile(path, None, records, digest, "jsonl", lines)

    if not text.strip():
        raise ArchiveError(path, "file is empty")
    try:
        with cyclic_gc_paused():
            document = json.loads(text)
    except json.JSONDecodeError as exc:
        # Several top-level objects, one after another: JSON Lines by content.
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            records, lines = _read_jsonl(path, text)
            return ArchiveFile(path, None, records, digest, "jsonl", lines)
        raise _json_error(path, exc) from None

    if type(document) is list:
        return ArchiveFile(path, None, _check_records(path, document, "the file"), digest, "array")
    if type(document) is not dict:
        raise ArchiveError(
            path,
            "top level must be an array of records or an object with 'models', "
            f"got {type(document).__name__}",
        )
    if "models" not in document:
        if "id" in document and "\n" not in text.strip():
            # A one-line JSON Lines file holding a single record.
            return ArchiveFile(path, None, [document], digest, "jsonl", [1])
        raise ArchiveError(path, "top-level object has no 'models' list")
    records = _check_records(path, document["models"], "'models'")
    taken_at = None
    for key in ("fetched_at", "date"):
        if document.get(key) is not None:
            taken_at = _parse_taken_at(path, key, document[key])
            break
    return ArchiveFile(path, taken_at, records, digest, "object")


_CHUNK = 1 << 24


def _check_utf8(path: Path, data: bytes) -> None:
    """Raise as `bytes.decode` would for a file that is not UTF-8, a chunk at a time."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    view = memoryview(data)
    for start in range(0, len(data), _CHUNK):
        try:
            decoder.decode(view[start : start + _CHUNK], final=start + _CHUNK >= len(data))
        except UnicodeDecodeError:
            break  # decoded whole below, for the exact position
    else:
        return
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArchiveError(path, f"not UTF-8 text (byte {exc.start})") from None


_split_records = msgspec.json.Decoder(list[msgspec.Raw]).decode
_split_object = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode


def _read_split(path: Path, data: bytes, digest: str) -> ArchiveFile | None:
    """An array or object file, its records left raw; None: read it with `json` instead.

    None for anything unusual (other shapes, a record that is not an
    object, JSON that msgspec refuses): the `json` path then reads it, or
    raises its usual error.
    """
    start = data.lstrip()[:1]
    try:
        with cyclic_gc_paused():
            if start == b"[":
                raw, taken_at, kind = _split_records(data), None, "array"
            elif start == b"{":
                document = _split_object(data)
                if "models" not in document:
                    return None
                raw, kind = _split_records(document["models"]), "object"
                taken_at = None
                for key in ("fetched_at", "date"):
                    value = (
                        json.loads(bytes(memoryview(document[key]))) if key in document else None
                    )
                    if value is not None:
                        taken_at = _parse_taken_at(path, key, value)
                        break
            else:
                return None
    except msgspec.MsgspecError:
        return None
    if not all(memoryview(item)[:1] == b"{" for item in raw):
        return None
    return ArchiveFile(path, taken_at, RawRecords(raw), digest, kind)


def validate_records(archive: ArchiveFile) -> list[HubRecord]:
    """Parse every record of `archive`, raising `ArchiveError` at the first bad one.

    The error names the file, the record index (and line, for JSON Lines), the
    record's id when it has one, and the field that is wrong.
    """
    with cyclic_gc_paused():
        return _validate(archive)


def _validate(archive: ArchiveFile) -> list[HubRecord]:
    parsed: list[HubRecord] = []
    append = parsed.append
    for index, raw in enumerate(archive.records):
        try:
            append(parse_hub_record(raw))
        except RecordError as exc:
            hub_id = exc.hub_id
            if hub_id is None and type(raw) is dict and type(raw.get("id")) is str:
                hub_id = raw["id"] or None
            raise ArchiveError(
                archive.path,
                str(exc),
                record_index=index,
                line=archive.lines[index] if archive.lines else None,
                hub_id=hub_id,
            ) from exc
    return parsed


def iter_archive_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Expand `paths` to archive files: files as given, directories to their *.json/*.jsonl.

    Directories are not searched recursively; their files come sorted by name.
    A path given twice is listed once. A missing path raises `ArchiveError`.
    """
    result: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                child
                for child in path.iterdir()
                if child.suffix.lower() in ARCHIVE_SUFFIXES and child.is_file()
            )
        elif path.exists():
            found = [path]
        else:
            raise ArchiveError(path, "no such file or directory")
        for item in found:
            if item not in seen:
                seen.add(item)
                result.append(item)
    return result


# A date (with or without dashes), then optionally a time (with or without
# colons) after "T", "_", "-" or a space, then optionally "Z" or an offset.
_FILENAME_TIMESTAMP = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d\d)(?P<dash>-?)(?P<mo>\d\d)(?P=dash)(?P<d>\d\d)"
    r"(?:[T_ -](?P<h>\d\d)(?P<colon>:?)(?P<mi>\d\d)(?:(?P=colon)(?P<s>\d\d)(?:[.,]\d+)?)?"
    r"(?P<tz>Z|[+-]\d\d:?\d\d)?)?"
    r"(?!\d)",
    re.IGNORECASE,
)


def taken_at_from_filename(name: str | Path) -> datetime | None:
    """Find a timestamp in a file name; None when there is none.

    Understands ``2026-03-02T1217Z``, ``2026-03-02T12:17:14Z``,
    ``2026-03-02T121714Z``, ``20260302T121714Z``, ``2026-03-02_1217`` and
    date-only names like ``snapshot-2026-03-02.json`` (midnight). Times are UTC
    unless the name carries an offset (``+0200``, ``-05:00``), which is kept.
    """
    base = Path(name).name
    for match in _FILENAME_TIMESTAMP.finditer(base):
        tz = UTC
        offset = match["tz"]
        if offset and offset.upper() != "Z":
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            minutes = int(digits[:2]) * 60 + int(digits[2:])
            if minutes >= 24 * 60:
                continue
            tz = timezone(sign * timedelta(minutes=minutes))
        try:
            return datetime(
                int(match["y"]),
                int(match["mo"]),
                int(match["d"]),
                int(match["h"] or 0),
                int(match["mi"] or 0),
                int(match["s"] or 0),
                tzinfo=tz,
            )
        except ValueError:
            continue  # e.g. "2026-13-45": not a date, look further along the name
    return None
