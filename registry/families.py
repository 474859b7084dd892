"""Writes for model families: deciding which family each model belongs to.

`families_assign` is the one place FamilyMember rows are written. It runs on
every publish (snapshots.services.snapshot_publish, for the models the
snapshot created or changed) and whenever curators change families or rules
in the admin (for every model).

How a model's family is decided, first match wins:

1. a rule on the model itself: its id starts with a prefix, matches a
   regex, or its author is named (`via="rule"`);
2. a `base_model` rule: one of the ids in its `base_model` tags starts with
   the rule's prefix (`via="rule"`), which reaches models whose base is not in
   the catalog;
3. inheritance: a base model in the catalog has a family; the model joins it
   through that base (`via="base_model"`, `source` = that base). Chains are
   followed up to MAX_DEPTH links, nearest family first, ties broken by the
   order the Hub lists the bases; cycles stop by themselves.

Among several matching rules of one step the lowest priority wins, then the
longest pattern, then the oldest rule. The relation is the model's own link
to its (first) base: finetune, quantized, adapter or merge (a base given
without a relation counts as a finetune); a model with no base is the base.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import QuerySet

from .caching import content_changed
from .models import FamilyMember, FamilyRule, HubModel

logger = logging.getLogger("modelboard.families")

# Links followed from a model to a base that has a family.
MAX_DEPTH = 8
DELETE_CHUNK = 5000

Relation = FamilyMember.Relation
Via = FamilyMember.Via
_RELATIONS = {
    "finetune": Relation.FINETUNE,
    "quantized": Relation.QUANTIZED,
    "adapter": Relation.ADAPTER,
    "merge": Relation.MERGE,
}

# model id -> (family id, relation, via, source model id or None)
Membership = tuple[int, str, str, int | None]
RuleKey = tuple[int, int, int]  # (priority, -len(pattern), rule id): smaller wins


def relation_of(hub_relation: str) -> str:
    """The FamilyMember relation for a relation the Hub names in a base_model tag."""
    return _RELATIONS.get(hub_relation, Relation.FINETUNE)


class _Prefixes:
    """Case-insensitive prefix lookup, bucketed by the id's owner.

    Prefixes almost always name an owner ("google/gemma"): a model's id is
    compared only with the prefixes of its own owner, and the few without a
    '/' with every id. Values are given lowercase.
    """

    def __init__(self) -> None:
        self.by_owner: dict[str, list[tuple[str, RuleKey, int]]] = {}
        self.ownerless: list[tuple[str, RuleKey, int]] = []

    def add(self, prefix: str, key: RuleKey, family_id: int) -> None:
        prefix = prefix.lower()
        owner, slash, _ = prefix.partition("/")
        bucket = self.by_owner.setdefault(owner, []) if slash else self.ownerless
        bucket.append((prefix, key, family_id))

    def best(self, value: str) -> tuple[RuleKey, int] | None:
        found = None
        candidates = self.by_owner.get(value.partition("/")[0], ())
        for bucket in (candidates, self.ownerless):
            for prefix, key, family_id in bucket:
                if (found is None or key < found[0]) and value.startswith(prefix):
                    found = (key, family_id)
        return found


@dataclass
class CompiledFamilyRules:
    """The active family rules, indexed for matching (values compared lowercase)."""

    authors: dict[str, tuple[RuleKey, int]]
    prefixes: _Prefixes
    regexes: list[tuple[re.Pattern[str], RuleKey, int]]
    base_prefixes: _Prefixes

    def own_family(self, *, hub_id: str, author: str) -> int | None:
        """The family the rules on a model's own id and author give it (both lowercase)."""
        found = self.prefixes.best(hub_id)
        hit = self.authors.get(author)
        if hit is not None and (found is None or hit[0] < found[0]):
            found = hit
        for pattern, key, family_id in self.regexes:
            if (found is None or key < found[0]) and pattern.search(hub_id):
                found = (key, family_id)
        return None if found is None else found[1]

    def base_family(self, pairs: Iterable[tuple[str, str]]) -> tuple[int, str] | None:
        """(family, hub relation) from `base_model` rules over a model's base ids (lowercase)."""
        found = None
        for hub_relation, base_id in pairs:
            hit = self.base_prefixes.best(base_id)
            if hit is not None and (found is None or hit[0] < found[0][0]):
                found = (hit, hub_relation)
        return None if found is None else (found[0][1], found[1])


def family_rules_compile() -> CompiledFamilyRules:
    """Load the active rules once (one query) and index them.

    A regex that does not compile (the admin refuses them, a shell may not)
    is skipped with a warning rather than stopping a publish.
    """
    authors: dict[str, tuple[RuleKey, int]] = {}
    prefixes, base_prefixes = _Prefixes(), _Prefixes()
    regexes: list[tuple[re.Pattern[str], RuleKey, int]] = []
    rules = (
        FamilyRule.objects.filter(is_active=True)
        .order_by()
        .values_list("pk", "family_id", "kind", "pattern", "priority")
    )
    for pk, family_id, kind, pattern, priority in rules:
        pattern = pattern.strip()
        if not pattern:
            continue
        key = (priority, -len(pattern), pk)
        if kind == FamilyRule.Kind.AUTHOR:
            lowered = pattern.lower()
            if lowered not in authors or key < authors[lowered][0]:
                authors[lowered] = (key, family_id)
        elif kind == FamilyRule.Kind.ID_PREFIX:
            prefixes.add(pattern, key, family_id)
        elif kind == FamilyRule.Kind.BASE_MODEL:
            base_prefixes.add(pattern, key, family_id)
        elif kind == FamilyRule.Kind.ID_REGEX:
            try:
                regexes.append((re.compile(pattern, re.IGNORECASE), key, family_id))
            except re.error as exc:
                logger.warning("family rule %s skipped: bad pattern %r (%s)", pk, pattern, exc)
        else:
            logger.warning("family rule %s skipped: unknown kind %r", pk, kind)
    return CompiledFamilyRules(authors, prefixes, regexes, base_prefixes)


@dataclass(frozen=True)
class FamilyAssignResult:
    """What one assignment did."""

    members: int  # models in a family afterwards
    added: int
    removed: int
    changed: int  # rows kept whose family, relation, via or source changed

    @property
    def any_change(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def families_assign(*, model_ids: Iterable[int] | QuerySet | None = None) -> FamilyAssignResult:
    """Decide every model's family from the rules and the base_model links.

    `model_ids` names the models whose own fields changed (a publish's
    touched models; a queryset of ids is read once): only their rules are
    matched again, the others keep what the rules last gave them. None
    matches every model, as after a rule change. Inheritance is always
    settled over the whole catalog, so a base that gained or lost a family
    carries its finetunes and quantizations along.

    One read of the catalog and one of the current memberships, then rows
    rewritten by difference in a few statements. Commits at once; readers'
    caches are invalidated after the commit if anything changed.
    """
    rules = family_rules_compile()
    scope = None if model_ids is None else set(model_ids)
    with transaction.atomic():
        models = _catalog(scope)
        current = _memberships()
        wanted = _decide(rules, models, current=current, scope=scope)
        result = _rewrite(current, wanted)
        if result.any_change:
            reason = (
                f"families assigned: +{result.added} -{result.removed} ~{result.changed} "
                f"({result.members} members)"
            )
            transaction.on_commit(lambda: content_changed(reason=reason))
    logger.info(
        "families assigned: %d members, %d added, %d removed, %d changed",
        result.members,
        result.added,
        result.removed,
        result.changed,
    )
    return result


# pk -> (hub id, author, [(hub relation, base id)]), ids and author lowercase
Catalog = dict[int, tuple[str, str, list[tuple[str, str]]]]


# Past this many models in scope, reading the whole catalog costs no more.
SCOPED_READ_LIMIT = 20_000


def _catalog(scope: set[int] | None) -> Catalog:
    """The models that can be in a family, lowercase, as plain tuples from one statement.

    With a scope, only the models that may matter are read: those with base
    links (inheritance), those a rule placed (the roots families are
    inherited from) and those in scope (matched again). A model outside all
    three can neither be in a family nor pass one on. Families compare
    case-insensitively, so the database lowers the text. The JSON column is
    read as text and decoded only when not empty.
    """
    meta = HubModel._meta
    pk, hub_id, author, bases = (
        meta.get_field(name).column for name in ("id", "hub_id", "author", "base_models")
    )
    sql = f"SELECT {pk}, LOWER({hub_id}), LOWER({author}), {bases} FROM {meta.db_table}"
    params: list = []
    if scope is not None and len(scope) <= SCOPED_READ_LIMIT:
        members = FamilyMember._meta
        ruled = (
            f"SELECT {members.get_field('model').column} FROM {members.db_table} "
            f"WHERE {members.get_field('via').column} = %s"
        )
        joined = ",".join(str(int(i)) for i in scope)
        if connection.vendor == "postgresql":
            empty, in_scope = "'[]'::jsonb", "ANY(string_to_array(%s, ',')::bigint[])"
            sql += f" WHERE {bases} <> {empty} OR {pk} IN ({ruled}) OR {pk} = {in_scope}"
        else:
            in_scope = "(SELECT value FROM json_each(%s))"
            sql += f" WHERE {bases} <> '[]' OR {pk} IN ({ruled}) OR {pk} IN {in_scope}"
            joined = f"[{joined}]"
        params = [Via.RULE.value, joined]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    loads = json.loads
    catalog: Catalog = {}
    for pk, hub_id, author, bases in rows:
        pairs: list[tuple[str, str]] = []
        if bases and bases != "[]":
            decoded = loads(bases) if isinstance(bases, str) else bases
            for item in decoded or ():
                if isinstance(item, list | tuple) and len(item) == 2 and item[1]:
                    pairs.append((str(item[0] or ""), str(item[1]).lower()))
        catalog[pk] = (hub_id, author or "", pairs)
    return catalog


def _memberships() -> dict[int, tuple]:
    """Every membership as it stands: model id -> (family, relation, via, source)."""
    meta = FamilyMember._meta
    columns = ", ".join(
        meta.get_field(name).column for name in ("model", "family", "relation", "via", "source")
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {meta.db_table}")
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _decide(
    rules: CompiledFamilyRules,
    models: Catalog,
    *,
    current: dict[int, tuple],
    scope: set[int] | None,
) -> dict[int, Membership]:
    wanted: dict[int, Membership] = {}
    if scope is None:
        matched: Iterable[int] = models
    else:
        # Models unchanged since the rules last looked keep what they gave.
        wanted = {pk: row for pk, row in current.items() if row[2] == Via.RULE and pk not in scope}
        matched = [pk for pk in scope if pk in models]
    for pk in matched:
        hub_id, author, pairs = models[pk]
        family_id = rules.own_family(hub_id=hub_id, author=author)
        if family_id is not None:
            relation = relation_of(pairs[0][0]) if pairs else Relation.BASE
            wanted[pk] = (family_id, relation, Via.RULE, None)
            continue
        if pairs:
            found = rules.base_family(pairs)
            if found is not None:
                wanted[pk] = (found[0], relation_of(found[1]), Via.RULE, None)

    # Inheritance, one link per round from what earlier rounds settled: the
    # nearest family wins, and a cycle simply never settles. Base ids are
    # resolved to catalog models once; each round looks only at the models
    # whose base settled in the round before.
    pk_by_id = {hub_id: pk for pk, (hub_id, _, _) in models.items()}
    links: dict[int, list[tuple[str, int]]] = {}
    children: dict[int, list[int]] = defaultdict(list)
    for pk, (_, _, pairs) in models.items():
        if not pairs or pk in wanted:
            continue
        resolved = [
            (hub_relation, base_pk)
            for hub_relation, base_id in pairs
            if (base_pk := pk_by_id.get(base_id)) is not None and base_pk != pk
        ]
        if resolved:
            links[pk] = resolved
            for _, base_pk in resolved:
                children[base_pk].append(pk)
    frontier: Iterable[int] = list(wanted)
    for _ in range(MAX_DEPTH):
        candidates = {
            child for base in frontier for child in children.get(base, ()) if child not in wanted
        }
        settled: dict[int, Membership] = {}
        for pk in candidates:
            for hub_relation, base_pk in links[pk]:
                if base_pk in wanted:
                    family_id = wanted[base_pk][0]
                    settled[pk] = (family_id, relation_of(hub_relation), Via.BASE_MODEL, base_pk)
                    break
        if not settled:
            break
        wanted.update(settled)
        frontier = list(settled)
    return wanted


def _rewrite(current: dict[int, tuple], wanted: dict[int, Membership]) -> FamilyAssignResult:
    stale = [pk for pk in current if pk not in wanted]
    upserts = [(pk, *row) for pk, row in wanted.items() if current.get(pk) != tuple(row)]
    added = sum(1 for row in upserts if row[0] not in current)
    for start in range(0, len(stale), DELETE_CHUNK):
        FamilyMember.objects.filter(model_id__in=stale[start : start + DELETE_CHUNK]).delete()
    if upserts:
        if connection.vendor == "postgresql":
            _upsert_postgresql(upserts)
        else:
            FamilyMember.objects.bulk_create(
                (
                    FamilyMember(
                        model_id=pk, family_id=family, relation=rel, via=via, source_id=src
                    )
                    for pk, family, rel, via, src in upserts
                ),
                batch_size=2000,
                update_conflicts=True,
                unique_fields=["model"],
                update_fields=["family", "relation", "via", "source"],
            )
    return FamilyAssignResult(
        members=len(wanted), added=added, removed=len(stale), changed=len(upserts) - added
    )


def _upsert_postgresql(rows: list[tuple]) -> None:
    """Insert or update membership rows in one statement, the columns as joined texts.

    Relations and vias are choice values, which hold no comma.
    """
    table = FamilyMember._meta.db_table
    columns = [FamilyMember._meta.get_field(n).column for n in ("model", "family", "relation")]
    columns += [FamilyMember._meta.get_field(n).column for n in ("via", "source")]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        "SELECT * FROM unnest(string_to_array(%s, ',')::bigint[], "
        "string_to_array(%s, ',')::bigint[], string_to_array(%s, ','), "
        "string_to_array(%s, ','), string_to_array(%s, ',', '')::bigint[]) "
        f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
    )
    params = [
        ",".join(str(row[0]) for row in rows),
        ",".join(str(row[1]) for row in rows),
        ",".join(row[2] for row in rows),
        ",".join(row[3] for row in rows),
        ",".join("" if row[4] is None else str(row[4]) for row in rows),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
