"""Parse one raw Hub model record (a dict from the Hub's JSON) into a `HubRecord`.

The Hub omits or nulls any field it likes, so missing fields are normal and map
to None / "" / (). Wrong types are not: they mean the input is not what we think
it is, and `parse_hub_record` raises `RecordError` naming the field.

Model-card fields (``cardData``) are written by model authors in YAML and are
read leniently: values of an unexpected type there are ignored, not fatal.

Values the database could not store make a record odd rather than wrong-typed,
and are refused here too, so one such record is skipped (and counted) by a
refresh or a crawl instead of failing the whole write: text longer than its
catalog column (`TEXT_LIMITS`), NUL characters or lone surrogates in any stored
string (PostgreSQL text and jsonb take neither), counts past 64 bits, and
timestamps that overflow when brought to UTC. Every `RecordError` carries a
short machine `reason` (`REASONS`) for those counts.

This runs for every record of every snapshot (100k+), so it sticks to plain
dict lookups and type checks; no regular expressions. The string checks look
at one joined string per record, and only an odd record pays for finding the
field at fault.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_HUB_ID_LENGTH = 200
BASE_MODEL_RELATIONS = frozenset({"finetune", "quantized", "adapter", "merge"})

_SPECIAL_TAGS = ("base_model:", "license:")
# Counts are stored as 64-bit integers (PostgreSQL bigint); anything larger
# is refused here, naming the record, rather than wrapping or failing a write.
MAX_COUNT = 2**63 - 1
# The catalog's column sizes (registry.models.HubModel; a test keeps them equal).
TEXT_LIMITS = {
    "author": 100,
    "pipeline_tag": 64,
    "library_name": 64,
    "license": 64,
    "sha": 64,
    "gated": 16,
}

# Why a record was refused, as counted on a snapshot (`Snapshot.skipped_reasons`).
INVALID = "invalid"  # a field of the wrong type or shape
TOO_LONG = "too_long"
BEYOND_64_BITS = "beyond_64_bits"
NUL_CHARACTER = "nul_character"
LONE_SURROGATE = "lone_surrogate"
DATE_OVERFLOW = "date_overflow"
DUPLICATE_ID = "duplicate_id"  # counted by the callers that see several records
REASONS = (
    INVALID,
    TOO_LONG,
    BEYOND_64_BITS,
    NUL_CHARACTER,
    LONE_SURROGATE,
    DATE_OVERFLOW,
    DUPLICATE_ID,
)

# A whole-Hub import holds a million records at once. Their short, repeated
# strings (tags, author, pipeline, library, license) are interned: one
# object each instead of one per record (about 0.5 kB a record saved).
_intern = sys.intern


class RecordError(ValueError):
    """A raw Hub record has a field of the wrong type or an impossible value.

    `reason` is one of `REASONS`: what kind of oddity it is, for counting.
    """

    def __init__(
        self, field: str, message: str, *, hub_id: str | None = None, reason: str = INVALID
    ) -> None:
        super().__init__(message)
        self.field = field
        self.hub_id = hub_id
        self.reason = reason


@dataclass(frozen=True, slots=True)
class HubRecord:
    hub_id: str
    author: str
    downloads: int | None
    downloads_all_time: int | None
    likes: int | None
    trending_score: float | None
    last_modified: datetime | None
    created_at: datetime | None
    sha: str
    pipeline_tag: str
    library_name: str
    hub_tags: tuple[str, ...]
    license: str
    parameters: int | None
    base_models: tuple[tuple[str, str], ...]
    private: bool
    gated: str
    has_detail: bool


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _count(raw: dict, field: str, label: str | None = None) -> int | None:
    value = raw.get(field)
    if value is None:
        return None
    kind = type(value)
    if kind is int:
        if 0 <= value <= MAX_COUNT:
            return value
    elif kind is float and value.is_integer() and 0 <= value <= MAX_COUNT:
        return int(value)
    if kind in (int, float) and value > MAX_COUNT:
        raise RecordError(
            label or field,
            f"'{label or field}' is beyond a 64-bit count (at most {MAX_COUNT:,}), "
            f"got {_show(value)}",
            reason=BEYOND_64_BITS,
        )
    raise RecordError(
        label or field, f"'{label or field}' must be a non-negative integer, got {_show(value)}"
    )


def _text(raw: dict, field: str) -> str:
    value = raw.get(field)
    if value is None:
        return ""
    if type(value) is not str:
        raise RecordError(field, f"'{field}' must be a string, got {_show(value)}")
    return value


def parse_hub_datetime(value: object, *, field: str = "datetime") -> datetime | None:
    """Parse a Hub timestamp such as ``2026-02-27T09:48:22.000Z`` to an aware UTC datetime.

    None and "" give None. Naive timestamps are taken as UTC; timestamps with
    another offset are converted to UTC. Raises `RecordError` (a ValueError)
    naming `field` for anything else.
    """
    if value is None or value == "":
        return None
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise RecordError(
                field, f"'{field}' must be an ISO-8601 timestamp, got {_show(value)}"
            ) from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise RecordError(field, f"'{field}' must be an ISO-8601 timestamp, got {_show(value)}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    if parsed.tzinfo is UTC:
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past the year 9999 in UTC
        raise RecordError(
            field,
            f"'{field}' overflows when brought to UTC, got {_show(value)}",
            reason=DATE_OVERFLOW,
        ) from None


def _trending_score(raw: dict) -> float | None:
    value = raw.get("trendingScore")
    if value is None:
        return None
    kind = type(value)
    if (kind is int or kind is float) and math.isfinite(value):
        return float(value)
    raise RecordError(
        "trendingScore", f"'trendingScore' must be a finite number, got {_show(value)}"
    )


def _object(raw: dict, field: str) -> dict | None:
    value = raw.get(field)
    if value is None or type(value) is dict:
        return value
    raise RecordError(field, f"'{field}' must be an object, got {_show(value)}")


def _card_license(card: dict) -> str:
    value = card.get("license")
    if type(value) is list:
        value = next((item for item in value if type(item) is str and item.strip()), None)
    if type(value) is not str:
        return ""
    value = value.strip().lower()
    if len(value) > TEXT_LIMITS["license"]:
        return ""  # author-written prose, not a license id: read leniently
    if value == "other":
        # `license: other` comes with a `license_name` (e.g. "qwen", "deepseek")
        # that says much more than "other" does.
        name = card.get("license_name")
        if type(name) is str and name.strip() and len(name.strip()) <= TEXT_LIMITS["license"]:
            return name.strip().lower()
    return value


def _card_base_models(card: dict) -> list[str]:
    value = card.get("base_model")
    if type(value) is str:
        value = [value]
    elif type(value) is not list:
        return []
    return [item.strip() for item in value if type(item) is str and item.strip()]


def _scan_tags(value: object) -> tuple[tuple[str, ...], str, list[tuple[str, str]]]:
    """Check `tags` and pull out, in one pass, the license tag and the base-model tags."""
    if value is None:
        return (), "", []
    if type(value) is not list:
        raise RecordError("tags", f"'tags' must be a list of strings, got {_show(value)}")
    license = ""
    pairs: list[tuple[str, str]] = []
    for tag in value:
        if type(tag) is not str:
            raise RecordError("tags", f"'tags' must be a list of strings, got item {_show(tag)}")
        if tag.startswith(_SPECIAL_TAGS):
            if tag[0] == "b":
                rest = tag[11:]
                relation, sep, base_id = rest.partition(":")
                if sep:
                    if base_id:
                        pairs.append((relation, base_id))
                elif rest:
                    pairs.append(("", rest))
            elif not license:
                license = tag[8:].strip().lower()
    return tuple(map(_intern, value)), license, pairs


def _base_models(
    pairs: list[tuple[str, str]], card: dict | None, expanded: object
) -> tuple[tuple[str, str], ...]:
    if card:
        pairs.extend(("", base_id) for base_id in _card_base_models(card))
    # The `baseModels` expand field: {"relation": "finetune", "models": [{"id": ...}]}.
    if type(expanded) is dict:
        relation = expanded.get("relation")
        relation = relation if type(relation) is str else ""
        for item in expanded.get("models") or ():
            if type(item) is dict and type(item.get("id")) is str and item["id"]:
                pairs.append((relation, item["id"]))
    if not pairs:
        return ()
    related = {base_id for relation, base_id in pairs if relation}
    seen: set[tuple[str, str]] = set()
    result = []
    for pair in pairs:
        if pair in seen or (not pair[0] and pair[1] in related):
            continue
        seen.add(pair)
        result.append(pair)
    return tuple(result)


def _parameters(raw: dict) -> int | None:
    for field in ("safetensors", "gguf"):
        block = _object(raw, field)
        if block is not None:
            total = _count(block, "total", f"{field}.total")
            if total is not None:
                return total
    return _count(raw, "numParameters")


def _gated(raw: dict) -> str:
    value = raw.get("gated")
    if value is None or value is False:
        return ""
    if value is True:
        return "true"
    if type(value) is str:
        value = value.strip().lower()
        return "" if value == "false" else value
    raise RecordError("gated", f"'gated' must be false, 'auto' or 'manual', got {_show(value)}")


def _hub_id(raw: dict) -> str:
    value = raw.get("id")
    if value is None:
        value = raw.get("modelId")  # older Hub responses
    if value is None:
        raise RecordError("id", "'id' is missing")
    if type(value) is not str:
        raise RecordError("id", f"'id' must be a string, got {_show(value)}")
    if not value:
        raise RecordError("id", "'id' must not be empty")
    if len(value) > MAX_HUB_ID_LENGTH:
        raise RecordError("id", f"'id' must be at most {MAX_HUB_ID_LENGTH} characters")
    if value.split() != [value]:
        raise RecordError("id", f"'id' must not contain whitespace, got {_show(value)}")
    return value


def _check_storable(hub_id: str, texts: tuple[str, ...], record: HubRecord) -> None:
    """Refuse strings the database cannot store: too long, NUL, lone surrogates.

    `texts` are the record's scalar strings in `TEXT_LIMITS` order. The fast
    path is one join and two scans of it; the field at fault is only looked
    for once something is wrong.
    """
    author, pipeline_tag, library_name, license, sha, gated = texts
    if (
        len(author) > 100
        or len(pipeline_tag) > 64
        or len(library_name) > 64
        or len(license) > 64
        or len(sha) > 64
        or len(gated) > 16
    ):
        for (field, limit), value in zip(TEXT_LIMITS.items(), texts, strict=True):
            if len(value) > limit:
                raise RecordError(
                    field,
                    f"'{field}' must be at most {limit} characters, "
                    f"got {len(value)}: {_show(value)}",
                    reason=TOO_LONG,
                )
    blob = "".join(record.hub_tags) + hub_id + author + pipeline_tag + library_name + license + sha
    if record.base_models:
        blob += "".join(base_id for _, base_id in record.base_models)
    if "\x00" not in blob and (blob.isascii() or _encodable(blob)):
        return
    named = [("id", hub_id), *zip(TEXT_LIMITS, texts, strict=True)]
    named += [("tags", tag) for tag in record.hub_tags]
    named += [("base_models", base_id) for _, base_id in record.base_models]
    for field, value in named:
        if "\x00" in value:
            raise RecordError(
                field, f"'{field}' holds a NUL character: {_show(value)}", reason=NUL_CHARACTER
            )
        if not _encodable(value):
            raise RecordError(
                field,
                f"'{field}' holds a lone surrogate (not Unicode text): {_show(value)}",
                reason=LONE_SURROGATE,
            )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_hub_record(raw: object) -> HubRecord:
    """Parse one raw Hub model record; raise `RecordError` if a field has the wrong type."""
    if type(raw) is not dict:
        raise RecordError("record", f"a record must be a JSON object, got {type(raw).__name__}")
    hub_id = _hub_id(raw)
    get = raw.get
    try:
        # Fast paths for the common, well-typed values; the helpers handle the rest.
        author = get("author")
        if type(author) is not str:
            author = _text(raw, "author")
        if not author and "/" in hub_id:
            author = hub_id.partition("/")[0]
        tags, license, pairs = _scan_tags(get("tags"))
        card = get("cardData")
        if card is not None and type(card) is not dict:
            raise RecordError("cardData", f"'cardData' must be an object, got {_show(card)}")
        if card:
            license = _card_license(card) or license
        private = get("private", False)
        if type(private) is not bool:
            if private is not None:
                raise RecordError("private", f"'private' must be a boolean, got {_show(private)}")
            private = False
        downloads = get("downloads")
        if type(downloads) is not int or not 0 <= downloads <= MAX_COUNT:
            downloads = _count(raw, "downloads")
        likes = get("likes")
        if type(likes) is not int or not 0 <= likes <= MAX_COUNT:
            likes = _count(raw, "likes")
        sha = get("sha")
        if type(sha) is not str:
            sha = _text(raw, "sha")
        pipeline_tag = get("pipeline_tag")
        if type(pipeline_tag) is not str:
            pipeline_tag = _text(raw, "pipeline_tag")
        library_name = get("library_name")
        if type(library_name) is not str:
            library_name = _text(raw, "library_name")
        gated = get("gated")
        gated = "" if gated is False or gated is None else _intern(_gated(raw))
        expanded = get("baseModels")
        record = HubRecord(
            hub_id,
            _intern(author),
            downloads,
            _count(raw, "downloadsAllTime"),
            likes,
            _trending_score(raw),
            parse_hub_datetime(get("lastModified"), field="lastModified"),
            parse_hub_datetime(get("createdAt"), field="createdAt"),
            sha,
            _intern(pipeline_tag),
            _intern(library_name),
            tags,
            _intern(license),
            _parameters(raw),
            _base_models(pairs, card, expanded) if pairs or card or expanded else (),
            private,
            gated,
            "cardData" in raw or "safetensors" in raw,
        )
        _check_storable(hub_id, (author, pipeline_tag, library_name, license, sha, gated), record)
        return record
    except RecordError as exc:
        exc.hub_id = hub_id
        raise
