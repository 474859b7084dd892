"""The delta feed's format (/api/v4/changes): how the server encodes it, and
how a client applies it (`changes_apply`, the reference client).

A client holds the public list of one snapshot S, as /api/v4/models gives it
(every row, keyed by the row's stable numeric `key`). The feed from S to the
latest snapshot L says only what moved:

    {"since": {"id": S, …}, "snapshot": {"id": L, "taken_at": …}, "next_since": L,
     "baseline_24h": B24, "baseline_7d": B7, "count": n,
     "removed": [key gaps], "added": [v4 rows + "key"], "updated": [catalog parts + "key"],
     "changed": {"downloads": [[key gaps], [corrections]], …}}

- Keys are listed ascending as gaps: the first is the key itself, each next
  one the difference from the one before ([3, 1, 1, 40] is keys 3, 4, 5, 45).
- `removed`: models in S's list that are not in L's. Drop them. A model
  that has turned private since is not named at all (privacy is known as it
  stands now, so the feed cannot tell it was ever public): the client then
  holds one row more than `count` says, which means "refetch the full list".
- `added`: models in L's list that were not in S's: whole v4 rows, with `key`.
  They are right as they stand; nothing below applies to them.
- `updated`: models in both whose revision moved (`last_modified` changed):
  their catalog fields (CATALOG_FIELDS) as they stand now. Replace those.
- `changed`: for every COLUMNS field, the models in both whose value in L is
  not what the client predicts from what it holds, and the correction. A
  correction that is a JSON number is added to the prediction; one wrapped in
  a list, `[v]`, replaces it (`v` may be null, a string, a float, a boolean).
  A field whose predictions are all right is left out.

Predictions (`predict`), applied field by field in COLUMNS order, each row
keeping a copy of its values in S ("old"):

- `rank`: the model's place (from 1) in L's list ordered as ranks are
  (30-day downloads high to low, unknown last; then likes, unknown as 0; then
  id), with the new figures and added models included, plus the offset it
  had in S (its rank there minus its place in S's list, removed models
  included). Ranks count private models, which lists leave out; the offset
  carries them over while they keep their places.
- when `baseline_24h` is `since.id` (a client that syncs every day):
  `rank_change_24h` = old rank - new rank, `delta_24h.downloads` / `.likes` =
  new - old (null when either side is null), `delta_24h.new` = false.
- every other field: its old value.

So on a daily sync the corrections are the day's changes of downloads,
all-time downloads, likes, trending score and the 7-day deltas (which need
figures a week old: the client does not have them), as small integers;
rank, rank change and the 24-hour deltas cost nothing unless they do not
follow from the rest. Last, every row's `snapshot` becomes the feed's
`snapshot`, and the list has `count` rows.

Worked example: the client holds S = 34 with key 7 at downloads 1000, likes
10, rank 2 and key 9 at downloads 1200, rank 1. L = 35 (baseline_24h 34) has
key 7 at 1500 downloads (likes 10) and key 9 at 1300:

    "changed": {"downloads": [[7, 2], [500, 100]], "rank": …absent…,
                "delta_24h.downloads": …absent…}

downloads become 1500 and 1300; ordered again, key 7 is first and key 9
second, which is their new rank (no correction); rank_change_24h (2-1 = 1 and
1-2 = -1) and delta_24h.downloads (500 and 100) follow from old and new.

Fields the feed maintains: every field of a v4 row but the score fields
(`score`, `profile`, `score_breakdown`, `anomaly`), which it leaves out, in
`added` rows too: a score is a percentile among all models under the profile
a request names, so any change moves many of them; read them from
/api/v4/models. The daily history's figures (`daily_downloads`,
`weekly_downloads`) are left out as well: a later sighting of the same day,
or a day imported out of order, revises them after the snapshot is
published, so they are not a snapshot's own figures to compare. The figures are exact
whatever happened. Catalog fields are sent when a model's revision moves
(`updated`); catalog changes that come without one are not: curators'
relabelling (tag rules and overrides, provider aliases edited in the admin),
and card details (license, parameter count) that a refresh short of call
budget fetched a run after the revision. A client that needs those to the
letter refetches the full list now and then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# In the order they are applied: predictions read only fields before them.
COLUMNS = (
    "downloads",
    "downloads_all_time",
    "likes",
    "trending_score",
    "last_modified",
    "delta_7d.downloads",
    "delta_7d.likes",
    "delta_7d.new",
    "rank",
    "rank_change_24h",
    "delta_24h.downloads",
    "delta_24h.likes",
    "delta_24h.new",
)
CATALOG_FIELDS = (
    "author",
    "provider",
    "pipeline_tag",
    "library_name",
    "license",
    "license_class",
    "parameters",
    "param_class",
    "family",
    "tags",
    "badges",
    "created_at",
)
_PATHS = {name: tuple(name.split(".")) for name in COLUMNS}
# Above this a float no longer holds every integer: such values are sent whole.
_EXACT_FLOAT = 2**53


# --- Shared by both sides -------------------------------------------------------


def key_gaps(keys: Iterable[int]) -> list[int]:
    """Ascending keys as gaps: [3, 4, 5, 45] -> [3, 1, 1, 40]."""
    gaps, previous = [], 0
    for key in sorted(keys):
        gaps.append(key - previous)
        previous = key
    return gaps


def keys_from_gaps(gaps: Iterable[int]) -> list[int]:
    keys, key = [], 0
    for gap in gaps:
        key += gap
        keys.append(key)
    return keys


def field_value(row: Mapping, name: str):
    value = row
    for part in _PATHS[name]:
        value = value[part]
    return value


def _set_field(row: dict, name: str, value) -> None:
    *parents, last = _PATHS[name]
    for part in parents:
        row = row[part]
    row[last] = value


def rank_key(downloads, likes, hub_id: str) -> tuple:
    """Where a model sorts in rank order (snapshots.ingest.ranked): downloads, likes, id."""
    return (downloads is None, -(downloads or 0), -(likes or 0), hub_id)


def rank_order(rows: Iterable[Mapping]) -> list[Mapping]:
    """v4 rows in rank order."""
    return sorted(rows, key=lambda r: rank_key(r["downloads"], r["likes"], r["id"]))


def rank_guesses(old: Mapping[int, Mapping], new: Iterable[Mapping]) -> dict[int, int]:
    """The rank each model of `new` would have: its place in rank order, plus
    the offset it had in S between its rank and its place there.

    Ranks count private models too, which public lists leave out: a model
    below one has a rank greater than its place. The offset carries that
    over, so it costs nothing while the private models keep their places.
    """
    offsets = {
        row["key"]: (row["rank"] - place if row["rank"] is not None else 0)
        for place, row in enumerate(rank_order(old.values()), 1)
    }
    return {
        row["key"]: place + offsets.get(row["key"], 0)
        for place, row in enumerate(rank_order(new), 1)
    }


def predict(name: str, old: Mapping, new: Mapping, *, position: int, derive_24h: bool):
    """What the client expects `name` to be in L, before any correction.

    `old` is the row in S; `new` the row as far as it is known in L (every
    field before `name` in COLUMNS); `position` the rank it would have from
    its place in L's order (`rank_guesses`).
    """
    if name == "rank":
        return position
    if derive_24h:
        if name == "rank_change_24h":
            return _difference(old["rank"], new["rank"])
        if name == "delta_24h.downloads":
            return _difference(new["downloads"], old["downloads"])
        if name == "delta_24h.likes":
            return _difference(new["likes"], old["likes"])
        if name == "delta_24h.new":
            return False
    return field_value(old, name)


def _difference(a, b):
    return None if a is None or b is None else a - b


def _is_int(value) -> bool:
    return type(value) is int


def _whole_float(value) -> bool:
    return type(value) is float and value.is_integer() and abs(value) < _EXACT_FLOAT


def correction(actual, predicted):
    """What turns `predicted` into `actual`: a number to add, or [actual]; None when equal."""
    if type(actual) is type(predicted) and actual == predicted:
        return None
    if _is_int(actual) and _is_int(predicted):
        return actual - predicted
    if _whole_float(actual) and _whole_float(predicted):
        return int(actual - predicted)
    return [actual]


def corrected(predicted, fix):
    """The value a correction makes of a prediction (the inverse of `correction`)."""
    if isinstance(fix, list):
        return fix[0]
    return predicted + fix  # a float stays a float


# --- Server side ------------------------------------------------------------------
#
# The same predictions as `predict`, column by column over flat tuples: at
# 100k models a call per field and model would cost seconds. The tests apply
# what this encodes with `changes_apply`, which holds the two to one answer.

# A model's figures on the server: one tuple, in this order.
FIGURES = ("key", "id", *COLUMNS)
_AT = {name: index for index, name in enumerate(FIGURES)}


def _ranked_keys(rows: Iterable[tuple]) -> list[int]:
    d, likes, hub_id = _AT["downloads"], _AT["likes"], _AT["id"]
    return [row[0] for row in sorted(rows, key=lambda r: rank_key(r[d], r[likes], r[hub_id]))]


def _server_predictions(
    name: str,
    pairs: list[tuple[int, tuple, tuple]],
    *,
    old: Mapping,
    new: Mapping,
    derive_24h: bool,
) -> list | None:
    """Predictions for a column, in `pairs` order; None where they are the old values."""
    if name == "rank":
        rank = _AT["rank"]
        offsets = {
            key: (old[key][rank] - place if old[key][rank] is not None else 0)
            for place, key in enumerate(_ranked_keys(old.values()), 1)
        }
        places = {key: place for place, key in enumerate(_ranked_keys(new.values()), 1)}
        return [places[key] + offsets[key] for key, _, _ in pairs]
    if not derive_24h:
        return None
    if name == "rank_change_24h":
        rank = _AT["rank"]
        return [_difference(o[rank], n[rank]) for _, o, n in pairs]
    if name in ("delta_24h.downloads", "delta_24h.likes"):
        figure = _AT[name.rsplit(".", 1)[1]]
        return [_difference(n[figure], o[figure]) for _, o, n in pairs]
    if name == "delta_24h.new":
        return [False] * len(pairs)
    return None


def changes_encode(
    *, old: Mapping[int, tuple], new: Mapping[int, tuple], derive_24h: bool
) -> tuple[list[int], list[int], list[int], dict[str, list[list]]]:
    """Compare S's figures (`old`) with L's (`new`): FIGURES tuples by model key.

    Returns (removed keys, added keys, updated keys: models in both whose
    revision moved, `changed` as the feed carries it).
    """
    removed = sorted(old.keys() - new.keys())
    added = sorted(new.keys() - old.keys())
    pairs = [(key, old[key], new[key]) for key in sorted(old.keys() & new.keys())]
    modified = _AT["last_modified"]
    updated = [key for key, o, n in pairs if o[modified] != n[modified]]
    changed: dict[str, list[list]] = {}
    for name in COLUMNS:
        at = _AT[name]
        predictions = _server_predictions(name, pairs, old=old, new=new, derive_24h=derive_24h)
        keys, fixes = [], []
        if predictions is None:
            for key, o, n in pairs:
                actual, predicted = n[at], o[at]
                if actual != predicted or type(actual) is not type(predicted):
                    keys.append(key)
                    fixes.append(correction(actual, predicted))
        else:
            for (key, _, n), predicted in zip(pairs, predictions, strict=True):
                actual = n[at]
                if actual != predicted or type(actual) is not type(predicted):
                    keys.append(key)
                    fixes.append(correction(actual, predicted))
        if keys:
            changed[name] = [key_gaps(keys), fixes]
    return removed, added, updated, changed


# --- Client side (the reference; the tests and bench/delta_sync.py use it) ----------


class ResyncNeeded(Exception):
    """The feed does not fit the state it was applied to: refetch the full list."""


def _copy_row(row: Mapping) -> dict:
    copied = dict(row)
    for nested in ("delta_24h", "delta_7d"):
        if isinstance(copied.get(nested), dict):
            copied[nested] = dict(copied[nested])
    return copied


def changes_apply(state: Mapping[int, Mapping], feed: Mapping) -> dict[int, dict]:
    """The list at `feed["snapshot"]`, from the list at `feed["since"]` (keyed by `key`).

    Returns a new mapping; `state` is left as it was. Raises ResyncNeeded
    when the feed names a model the state lacks, or the counts disagree.
    """
    derive_24h = feed["baseline_24h"] is not None and feed["baseline_24h"] == feed["since"]["id"]
    rows = {key: _copy_row(row) for key, row in state.items()}
    for key in keys_from_gaps(feed["removed"]):
        if rows.pop(key, None) is None:
            raise ResyncNeeded(f"removed model {key} is not in the state")
    old = {key: _copy_row(row) for key, row in rows.items()}
    for row in feed["added"]:
        rows[row["key"]] = dict(row)
    for part in feed["updated"]:
        if part["key"] not in old:
            raise ResyncNeeded(f"updated model {part['key']} is not in the state")
        rows[part["key"]].update(part)
    changed = feed["changed"]
    positions: dict[int, int] = {}
    for name in COLUMNS:
        if name == "rank":
            positions = rank_guesses(state, rows.values())
        fixes = {}
        if name in changed:
            gaps, values = changed[name]
            fixes = dict(zip(keys_from_gaps(gaps), values, strict=True))
            if not fixes.keys() <= old.keys():
                raise ResyncNeeded(f"'{name}' changes a model the state lacks")
        for key, before in old.items():
            row = rows[key]
            value = predict(
                name, before, row, position=positions.get(key, 0), derive_24h=derive_24h
            )
            if key in fixes:
                value = corrected(value, fixes[key])
            _set_field(row, name, value)
    for row in rows.values():
        row["snapshot"] = dict(feed["snapshot"])
    if len(rows) != feed["count"]:
        raise ResyncNeeded(f"{len(rows)} models after applying, the feed says {feed['count']}")
    return rows
