"""Writes for capability tags: deciding which models carry which tag.

`tags_apply` is the one place ModelTag rows are written. It runs on every
publish (for the models the snapshot created or changed: tags depend only on
catalog fields) and whenever curators change tags, rules
or overrides in the admin (for everyone, or the one model an override names).
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from registry.caching import content_changed
from registry.models import HubModel

from .models import ModelTag, TagOverride, TagRule

logger = logging.getLogger("modelboard.tagging")

# Models are decided this many at a time: memory stays flat for a publish of
# 100k models, and each chunk costs the same handful of statements.
CHUNK = 5000

# (model id, tag id) -> ModelTag.Source
Decision = dict[tuple[int, int], str]


@dataclass(frozen=True)
class TagApplyResult:
    """What one application of the rules did."""

    models: int  # models whose tags were decided
    added: int  # ModelTag rows created
    removed: int  # ModelTag rows deleted
    source_changed: int = 0  # rows kept whose source flipped between rule and override

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.source_changed)


@dataclass(frozen=True)
class CompiledRules:
    """The active rules, indexed for matching: lowercase lookups and compiled regexes."""

    pipeline_tag: dict[str, frozenset[int]]
    hub_tag: dict[str, frozenset[int]]
    library: dict[str, frozenset[int]]
    id_patterns: tuple[tuple[re.Pattern[str], int], ...]

    def tags_for(
        self, *, hub_id: str, pipeline_tag: str, library_name: str, hub_tags: Iterable[str]
    ) -> set[int]:
        """The tag ids the rules give a model with these fields."""
        found: set[int] = set()
        if pipeline_tag:
            found.update(self.pipeline_tag.get(pipeline_tag.lower(), ()))
        if library_name:
            found.update(self.library.get(library_name.lower(), ()))
        if self.hub_tag:
            for hub_tag in hub_tags:
                if isinstance(hub_tag, str):
                    found.update(self.hub_tag.get(hub_tag.lower(), ()))
        for pattern, tag_id in self.id_patterns:
            if tag_id not in found and pattern.search(hub_id):
                found.add(tag_id)
        return found


def tag_rules_compile() -> CompiledRules:
    """Load the active rules once (one query) and index them for matching.

    Values compare case-insensitively, and id patterns are searched
    case-insensitively. A pattern that does not compile (the admin refuses
    them, but a shell or a migration may not) is skipped with a warning rather
    than stopping a publish.
    """
    lookups: dict[str, dict[str, set[int]]] = {
        TagRule.Kind.PIPELINE_TAG: defaultdict(set),
        TagRule.Kind.HUB_TAG: defaultdict(set),
        TagRule.Kind.LIBRARY: defaultdict(set),
    }
    patterns: list[tuple[re.Pattern[str], int]] = []
    rules = (
        TagRule.objects.filter(is_active=True)
        .order_by()  # the default ordering would join the tags table
        .values_list("pk", "tag_id", "kind", "value")
    )
    for pk, tag_id, kind, value in rules:
        value = value.strip()
        if not value:
            continue
        if kind == TagRule.Kind.ID_PATTERN:
            try:
                patterns.append((re.compile(value, re.IGNORECASE), tag_id))
            except re.error as exc:
                logger.warning("tag rule %s skipped: bad pattern %r (%s)", pk, value, exc)
        elif kind in lookups:
            lookups[kind][value.lower()].add(tag_id)
        else:
            logger.warning("tag rule %s skipped: unknown kind %r", pk, kind)

    def frozen(kind: str) -> dict[str, frozenset[int]]:
        return {value: frozenset(tags) for value, tags in lookups[kind].items()}

    return CompiledRules(
        pipeline_tag=frozen(TagRule.Kind.PIPELINE_TAG),
        hub_tag=frozen(TagRule.Kind.HUB_TAG),
        library=frozen(TagRule.Kind.LIBRARY),
        id_patterns=tuple(patterns),
    )


def tags_apply(*, model_ids: Iterable[int] | QuerySet | None = None) -> TagApplyResult:
    """Decide the tags of models from the active rules and the overrides.

    `model_ids` limits the work to those models (e.g. a snapshot's; a
    queryset of ids is used as a subquery); None means every model. Overrides
    always win: an include tags the model (source "override") whether or not
    a rule matches, an exclude removes the tag whatever the rules say.

    ModelTag rows of the models in scope are rewritten by difference: stale
    rows deleted, new ones inserted, flipped sources updated, a handful of
    statements per chunk of models. All of it commits at once, and readers'
    caches are invalidated after the commit if anything changed.
    """
    rules = tag_rules_compile()
    models = added = removed = source_changed = 0
    with transaction.atomic():
        for chunk in _model_chunks(model_ids):
            ids = [row[0] for row in chunk]
            wanted = _decide(rules, chunk, overrides=_overrides(ids))
            counts = _rewrite(ids, wanted)
            models += len(chunk)
            added += counts[0]
            removed += counts[1]
            source_changed += counts[2]
        result = TagApplyResult(
            models=models, added=added, removed=removed, source_changed=source_changed
        )
        if result.changed:
            reason = f"tags applied: +{added} -{removed} ~{source_changed} on {models} models"
            transaction.on_commit(lambda: content_changed(reason=reason))
    logger.info(
        "tags applied to %d models: %d added, %d removed, %d changed source",
        models,
        added,
        removed,
        source_changed,
    )
    return result


ModelRow = tuple[int, str, str, str, list]
MODEL_FIELDS = ("pk", "hub_id", "pipeline_tag", "library_name", "hub_tags")


def _model_chunks(model_ids: Iterable[int] | QuerySet | None) -> Iterator[list[ModelRow]]:
    """The models in scope, CHUNK at a time, as plain tuples (no model instances)."""
    if model_ids is None or isinstance(model_ids, QuerySet):
        models = HubModel.objects.order_by("pk").values_list(*MODEL_FIELDS)
        if model_ids is not None:
            models = models.filter(pk__in=model_ids)
        rows = models.iterator(chunk_size=CHUNK)
        while chunk := list(islice(rows, CHUNK)):
            yield chunk
        return
    ids = sorted(set(model_ids))
    postgresql = connection.vendor == "postgresql"
    for start in range(0, len(ids), CHUNK):
        if postgresql:
            yield _models_postgresql(ids[start : start + CHUNK])
            continue
        batch = _id_set(ids[start : start + CHUNK])
        yield list(HubModel.objects.filter(pk__in=batch).values_list(*MODEL_FIELDS))


def _models_postgresql(ids: Sequence[int]) -> list[ModelRow]:
    # A publish asks for every model a snapshot created or changed (100k on a
    # first import): plain rows from one statement, the ids in one text
    # parameter, and hub_tags decoded here rather than through the ORM's
    # converters (jsonb comes as text, as Django reads it).
    meta = HubModel._meta
    columns = ", ".join(
        meta.pk.column if name == "pk" else meta.get_field(name).column for name in MODEL_FIELDS
    )
    sql = (
        f"SELECT {columns} FROM {meta.db_table} "
        f"WHERE {meta.pk.column} = ANY(string_to_array(%s, ',')::bigint[])"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_joined(ids)])
        fetched = cursor.fetchall()
    loads = json.loads
    return [
        (pk, hub_id, pipeline_tag, library_name, [] if tags == "[]" else loads(tags))
        for pk, hub_id, pipeline_tag, library_name, tags in fetched
    ]


def _joined(ids: Sequence[int]) -> str:
    return ",".join(map(str, map(int, ids)))


def _id_set(ids: Sequence[int]) -> RawSQL | Sequence[int]:
    """`ids` as the right-hand side of an `__in`, in one parameter where the backend can.

    Django builds `IN (%s, %s, …)` one placeholder and one adapted value at a
    time; for thousands of ids that costs more than the query. PostgreSQL
    takes the ids joined in one text and SQLite a JSON list instead, as a single
    parameter.
    """
    if connection.vendor == "postgresql":
        # One text parameter split on the server: psycopg dumps a list
        # parameter element by element in Python.
        return RawSQL("SELECT unnest(string_to_array(%s, ',')::bigint[])", [_joined(ids)])
    ids = [int(i) for i in ids]
    if connection.vendor == "sqlite":
        return RawSQL("SELECT value FROM json_each(%s)", [json.dumps(ids)])
    return ids


def _overrides(ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
    """The overrides of these models: model id -> [(tag id, action)]."""
    found: dict[int, list[tuple[int, str]]] = defaultdict(list)
    # order_by(): the default ordering would join the models and tags tables.
    rows = (
        TagOverride.objects.filter(model_id__in=_id_set(ids))
        .order_by()
        .values_list("model_id", "tag_id", "action")
    )
    for model_id, tag_id, action in rows:
        found[model_id].append((tag_id, action))
    return found


def _decide(
    rules: CompiledRules,
    chunk: Sequence[ModelRow],
    *,
    overrides: dict[int, list[tuple[int, str]]],
) -> Decision:
    wanted: Decision = {}
    for model_id, hub_id, pipeline_tag, library_name, hub_tags in chunk:
        for tag_id in rules.tags_for(
            hub_id=hub_id,
            pipeline_tag=pipeline_tag,
            library_name=library_name,
            hub_tags=hub_tags or (),
        ):
            wanted[(model_id, tag_id)] = ModelTag.Source.RULE
        for tag_id, action in overrides.get(model_id, ()):
            if action == TagOverride.Action.INCLUDE:
                wanted[(model_id, tag_id)] = ModelTag.Source.OVERRIDE
            else:
                wanted.pop((model_id, tag_id), None)
    return wanted


def _rewrite(ids: Sequence[int], wanted: Decision) -> tuple[int, int, int]:
    """Make the ModelTag rows of `ids` equal `wanted`; returns (added, removed, flipped)."""
    stale: list[int] = []
    flipped: dict[str, list[int]] = defaultdict(list)
    have: set[tuple[int, int]] = set()
    rows = ModelTag.objects.filter(model_id__in=_id_set(ids)).values_list(
        "pk", "model_id", "tag_id", "source"
    )
    for pk, model_id, tag_id, source in rows:
        key = (model_id, tag_id)
        want = wanted.get(key)
        if want is None:
            stale.append(pk)
        else:
            have.add(key)
            if want != source:
                flipped[want].append(pk)
    if stale:
        ModelTag.objects.filter(pk__in=_id_set(stale)).delete()
    for source, pks in flipped.items():
        ModelTag.objects.filter(pk__in=_id_set(pks)).update(source=source)
    new = [(key, source) for key, source in wanted.items() if key not in have]
    # A concurrent apply over the same models may have inserted the same pair
    # first; the unique constraint makes that a no-op rather than an error.
    if connection.vendor == "postgresql":
        _insert_postgresql(new)
    else:
        ModelTag.objects.bulk_create(
            (
                ModelTag(model_id=model_id, tag_id=tag_id, source=source)
                for (model_id, tag_id), source in new
            ),
            ignore_conflicts=True,
        )
    return len(new), len(stale), sum(len(pks) for pks in flipped.values())


_MODEL_TAG_COLUMNS = tuple(
    ModelTag._meta.get_field(name).column for name in ("model", "tag", "source")
)


def _insert_postgresql(rows: Sequence[tuple[tuple[int, int], str]]) -> None:
    """Insert new ModelTag rows in one statement, skipping pairs that exist by now.

    `bulk_create` builds a model instance and prepares three values per row
    in Python (~2.5 s for the 80k rows of a first 100k-model import); here
    the columns travel as three texts split on the server. Sources are
    choice values, which hold no comma.
    """
    if not rows:
        return
    sql = (
        f"INSERT INTO {ModelTag._meta.db_table} ({', '.join(_MODEL_TAG_COLUMNS)}) "
        "SELECT * FROM unnest(string_to_array(%s, ',')::bigint[], "
        "string_to_array(%s, ',')::bigint[], string_to_array(%s, ',')) "
        "ON CONFLICT DO NOTHING"
    )
    model_ids = ",".join(str(model_id) for (model_id, _), _ in rows)
    tag_ids = ",".join(str(tag_id) for (_, tag_id), _ in rows)
    sources = ",".join(source for _, source in rows)
    with connection.cursor() as cursor:
        cursor.execute(sql, [model_ids, tag_ids, sources])
