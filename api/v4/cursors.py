"""Cursor pagination for the v4 lists: opaque cursors over a total, stable order.

A cursor is the URL-safe base64 of a small JSON array: what list it belongs
to (the snapshot and the sort, or the snapshot status), the direction, and the
sort key of the row it points past, with the tiebreak (the Hub id, unique).
The next page is the rows strictly after that key in the list's order, the
previous page the rows strictly before it: no offset to scan past, and no
row skipped or repeated as pages are walked, whatever the sort.

Unknown values (null) come last in either direction, so the key comparisons
spell out where nulls fall rather than leaving it to SQL's three-valued logic.

A cursor comes back from the client, so it is input like any other: whatever
it decodes to is checked (shape, each key's kind, text a database can hold,
numbers a column can hold) before it reaches a query, and anything else is a
400 naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db.models import F, Max, Q, QuerySet
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from api.access import Caller, page_size_allowed
from api.errors import invalid_parameter
from registry.models import Plan

from .params import int_param

CURSOR_PARAM = "cursor"
LIMIT_PARAM = "limit"
DEFAULT_LIMIT = 100
# No page is larger, whatever a plan says (enterprise's page size as seeded):
# the schema's maximum for `limit`. Beyond it, or beyond the largest page
# any plan allows, a 400 saying so rather than a plan to upgrade to.
LIMIT_CEILING = 1_000
MAX_CURSOR_LENGTH = 1000
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"  # what encode() writes: URL-safe base64, unpadded
# The figures a cursor may carry: what a bigint column holds.
_LOWEST, _HIGHEST = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Order:
    """A total order: a column (nulls last) then a unique tiebreak column."""

    field: str
    descending: bool
    tie_field: str
    tie_descending: bool = False
    kind: type = int  # what the column holds: int, float, or str for times
    tie_kind: type = int  # what the tiebreak holds: int (an id) or str (a Hub id)

    def forward(self) -> tuple:
        return (
            _direction(F(self.field), self.descending, nulls_last=True),
            _direction(F(self.tie_field), self.tie_descending),
        )

    def backward(self) -> tuple:
        return (
            _direction(F(self.field), not self.descending, nulls_last=False),
            _direction(F(self.tie_field), not self.tie_descending),
        )

    def after(self, value, tie) -> Q:
        """Rows strictly after (value, tie) in the forward order."""
        beyond = "lt" if self.descending else "gt"
        tie_beyond = "lt" if self.tie_descending else "gt"
        if value is None:
            return Q(**{f"{self.field}__isnull": True, f"{self.tie_field}__{tie_beyond}": tie})
        return (
            Q(**{f"{self.field}__{beyond}": value})
            | Q(**{self.field: value, f"{self.tie_field}__{tie_beyond}": tie})
            | Q(**{f"{self.field}__isnull": True})
        )

    def before(self, value, tie) -> Q:
        """Rows strictly before (value, tie) in the forward order."""
        short = "gt" if self.descending else "lt"
        tie_short = "gt" if self.tie_descending else "lt"
        if value is None:
            return Q(**{f"{self.field}__isnull": False}) | Q(
                **{f"{self.field}__isnull": True, f"{self.tie_field}__{tie_short}": tie}
            )
        return Q(**{f"{self.field}__{short}": value}) | Q(
            **{self.field: value, f"{self.tie_field}__{tie_short}": tie}
        )


@dataclass(frozen=True)
class KeyOrder:
    """A total order over several columns that are never null, then a unique tiebreak.

    For lists sorted by more than one figure (anomalies: newest day, then
    strongest). A cursor's value is the list of the row's column values,
    dates as ISO days; `kinds` says what each holds (`date`, int, float).
    """

    columns: tuple[tuple[str, bool], ...]  # (field, descending)
    kinds: tuple[type, ...]
    tie_field: str
    tie_descending: bool = False
    tie_kind: type = int

    def _all(self, *, reverse: bool) -> list[tuple[str, bool]]:
        found = [*self.columns, (self.tie_field, self.tie_descending)]
        return [(field, descending != reverse) for field, descending in found]

    def forward(self) -> tuple:
        return tuple(_direction(F(f), d) for f, d in self._all(reverse=False))

    def backward(self) -> tuple:
        return tuple(_direction(F(f), d) for f, d in self._all(reverse=True))

    def _beyond(self, values: list, tie, *, before: bool) -> Q:
        # Lexicographic: equal on the first i columns and past on the next one.
        keys = [*values, tie]
        found = Q()
        for i, (field, descending) in enumerate(self._all(reverse=False)):
            lookup = "lt" if descending != before else "gt"
            equal = {f: v for (f, _), v in zip(self._all(reverse=False)[:i], keys, strict=False)}
            found |= Q(**equal, **{f"{field}__{lookup}": keys[i]})
        return found

    def after(self, value, tie) -> Q:
        return self._beyond(value, tie, before=False)

    def before(self, value, tie) -> Q:
        return self._beyond(value, tie, before=True)

    def check(self, value) -> list:
        """The cursor's values, each of its column's kind, or a 400."""
        if not isinstance(value, list) or len(value) != len(self.kinds):
            raise invalid_parameter(CURSOR_PARAM, _GARBLED)
        checked = []
        for item, kind in zip(value, self.kinds, strict=True):
            if kind is date:
                try:
                    checked.append(date.fromisoformat(item))
                except (TypeError, ValueError):
                    raise invalid_parameter(CURSOR_PARAM, _GARBLED) from None
            else:
                checked.append(_checked(item, kind))
                if checked[-1] is None:
                    raise invalid_parameter(CURSOR_PARAM, _GARBLED)
        return checked


def _direction(expression: F, descending: bool, *, nulls_last: bool | None = None):
    if nulls_last is None:
        return expression.desc() if descending else expression.asc()
    if nulls_last:
        return expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    return expression.desc(nulls_first=True) if descending else expression.asc(nulls_first=True)


@dataclass(frozen=True)
class Position:
    value: object
    tie: object
    backwards: bool


def encode(*, binding: dict, value, tie, backwards: bool) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    payload = [binding, "p" if backwards else "n", value, tie]
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_GARBLED = "not a cursor from this list; follow the 'next' or 'previous' link as given"


def decode(
    raw: str, *, binding: dict, describe: Callable[[str, object], str], order: Order | KeyOrder
):
    """The position a cursor points at, or a 400 naming 'cursor' and why.

    `describe(key, value)` words a binding the cursor was made for, so a
    cursor from another snapshot or sort is refused with what it belongs to.
    """
    if len(raw) > MAX_CURSOR_LENGTH or not re.fullmatch(CURSOR_PATTERN, raw):
        raise invalid_parameter(CURSOR_PARAM, _GARBLED)
    try:
        payload = json.loads(
            base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), parse_constant=_no_constant
        )
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise invalid_parameter(CURSOR_PARAM, _GARBLED) from None
    if not (
        isinstance(payload, list)
        and len(payload) == 4
        and isinstance(payload[0], dict)
        and payload[1] in ("n", "p")
        and _storable(payload)
    ):
        raise invalid_parameter(CURSOR_PARAM, _GARBLED)
    made_for, direction, value, tie = payload
    for key, expected in binding.items():
        if made_for.get(key) != expected:
            if key not in made_for:
                raise invalid_parameter(CURSOR_PARAM, _GARBLED)
            problem = (
                f"this cursor is for {describe(key, made_for[key])}, "
                f"not {describe(key, expected)}; start again without a cursor"
            )
            raise invalid_parameter(CURSOR_PARAM, problem)
    value = order.check(value) if hasattr(order, "check") else _checked(value, order.kind)
    return Position(value=value, tie=_checked_tie(tie, order.tie_kind), backwards=direction == "p")


def _no_constant(name: str):
    raise ValueError(f"{name} is not a figure a cursor holds")


def _storable(item) -> bool:
    """Whether every text and number in a decoded cursor is one a database column can hold.

    No NUL and no lone surrogate in text (neither encodes for PostgreSQL),
    whole numbers within bigint, finite floats (json reads 1e999 as inf).
    """
    if isinstance(item, str):
        if "\x00" in item:
            return False
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(item, bool) or item is None:
        return True
    if isinstance(item, int):
        return _LOWEST <= item <= _HIGHEST
    if isinstance(item, float):
        return math.isfinite(item)
    if isinstance(item, list):
        return all(_storable(one) for one in item)
    if isinstance(item, dict):
        return all(_storable(key) and _storable(one) for key, one in item.items())
    return False


def _checked(value, kind: type):
    if value is None:
        return None
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            # A time a database stores: in UTC without leaving datetime's range.
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    raise invalid_parameter(CURSOR_PARAM, _GARBLED)


def _checked_tie(tie, kind: type):
    if kind is int and isinstance(tie, int) and not isinstance(tie, bool):
        return tie
    if kind is str and isinstance(tie, str):
        return tie
    raise invalid_parameter(CURSOR_PARAM, _GARBLED)


def page_limit(request: Request, caller: Caller, *, what: str = "rows") -> int:
    """`limit`: the page size every v4 list takes, at most the caller's plan's.

    The default is 100 rows, or the plan's page size if smaller; beyond it,
    403 naming the cheapest plan that allows the page. Every cursor-paged
    list reads its `limit` here, so a plan's page size means the same on each.
    """
    cap = min(caller.plan.max_page_size, LIMIT_CEILING)
    limit = int_param(
        request, LIMIT_PARAM, default=min(DEFAULT_LIMIT, cap), low=1, high=LIMIT_CEILING
    )
    if limit > cap:
        largest = min(largest_page_size(), LIMIT_CEILING)
        if limit > largest:
            raise invalid_parameter(
                LIMIT_PARAM,
                f"must be an integer from 1 to {largest}, the largest page any plan allows",
            )
        page_size_allowed(caller, limit=limit, what=what)
    return limit


def largest_page_size() -> int:
    """The largest page any plan allows (one query; only asked when a page exceeds the caller's)."""
    return Plan.objects.aggregate(largest=Max("max_page_size"))["largest"] or DEFAULT_LIMIT


@dataclass
class Page:
    items: list
    next: str | None  # cursor
    previous: str | None


def page_of(
    rows: QuerySet,
    *,
    order: Order | KeyOrder,
    position: Position | None,
    limit: int,
    key: Callable[[object], tuple],
    binding: dict,
) -> Page:
    """One page of `rows` from `position`, with the cursors of its neighbours.

    One query: a row more than the page is read to know whether another
    page follows (or, walking back, precedes).
    """
    if position is None:
        found = list(rows.order_by(*order.forward())[: limit + 1])
        more_after, more_before = len(found) > limit, False
        items = found[:limit]
    elif not position.backwards:
        found = list(
            rows.filter(order.after(position.value, position.tie)).order_by(*order.forward())[
                : limit + 1
            ]
        )
        more_after, more_before = len(found) > limit, True
        items = found[:limit]
    else:
        found = list(
            rows.filter(order.before(position.value, position.tie)).order_by(*order.backward())[
                : limit + 1
            ]
        )
        more_after, more_before = True, len(found) > limit
        items = found[:limit][::-1]
    following = preceding = None
    if items and more_after:
        value, tie = key(items[-1])
        following = encode(binding=binding, value=value, tie=tie, backwards=False)
    if items and more_before:
        value, tie = key(items[0])
        preceding = encode(binding=binding, value=value, tie=tie, backwards=True)
    return Page(items=items, next=following, previous=preceding)


def links(request: Request, page: Page) -> dict[str, str | None]:
    """Absolute URLs of the neighbouring pages, the other parameters kept."""
    url = request.build_absolute_uri()
    return {
        "next": replace_query_param(url, CURSOR_PARAM, page.next) if page.next else None,
        "previous": (
            replace_query_param(url, CURSOR_PARAM, page.previous) if page.previous else None
        ),
    }


def link_header(urls: dict[str, str | None]) -> str | None:
    """RFC 8288 Link header value: rel="next" and rel="prev"."""
    parts = [
        f'<{url}>; rel="{rel}"'
        for rel, url in (("next", urls["next"]), ("prev", urls["previous"]))
        if url
    ]
    return ", ".join(parts) or None


def paginate(
    request: Request,
    response,
    rows: QuerySet,
    *,
    order: Order | KeyOrder,
    binding: dict,
    limit: int,
    key: Callable[[object], tuple],
    describe: Callable[[str, object], str] | None = None,
) -> tuple[Page, dict[str, str | None]]:
    """The page `request`'s cursor asks for, its neighbours' URLs, and the `Link` header set.

    For list views: decode the cursor (bound to `binding`), read the page,
    and set `response["Link"]`; the URLs go into the body as next/previous.
    """
    position = None
    raw = request.query_params.get(CURSOR_PARAM, "")
    if raw:
        position = decode(
            raw,
            binding=binding,
            describe=describe or (lambda name, value: f"{name}={value}"),
            order=order,
        )
    page = page_of(rows, order=order, position=position, limit=limit, key=key, binding=binding)
    urls = links(request, page)
    header = link_header(urls)
    if header:
        response["Link"] = header
    return page, urls
