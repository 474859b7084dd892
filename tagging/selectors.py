"""Reads for capability tags: which models carry which tags, and which carry none.

Tagging may import only `registry` (tests/test_architecture.py), so nothing
here knows about snapshots: callers that care about a snapshot pass its model
ids in rank order, or a queryset of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from registry.models import HubModel

from .models import ModelTag, Tag


def tags_for_models(*, model_ids: Iterable[int]) -> dict[int, list[Tag]]:
    """Every given model's tags, in the curated order (Tag.position, then name).

    One query whatever the number of models. Every id asked for is a key (an
    untagged model maps to []), so templates need no `.get`. A Tag appears
    once in memory however many models carry it.
    """
    ids = list(dict.fromkeys(model_ids))
    found: dict[int, list[Tag]] = {model_id: [] for model_id in ids}
    if not ids:
        return found
    tags: dict[int, Tag] = {}
    rows = (
        ModelTag.objects.filter(model_id__in=ids)
        .select_related("tag")
        .order_by("tag__position", "tag__name", "tag_id")
    )
    for row in rows:
        tag = tags.setdefault(row.tag_id, row.tag)
        found[row.model_id].append(tag)
    return found


def tag_list(*, include_empty: bool = True) -> QuerySet[Tag]:
    """The curated tags in order, each with `model_count`: public models carrying it.

    Private models never count (they never show on public pages). The count
    is over the catalog, not one snapshot: a page that lists a tag's models in
    the latest snapshot counts those itself.
    """
    counts = (
        ModelTag.objects.filter(tag=OuterRef("pk"), model__private=False)
        .order_by()
        .values("tag")
        .annotate(n=Count("pk"))
        .values("n")
    )
    tags = Tag.objects.annotate(
        model_count=Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))
    ).order_by("position", "name")
    if not include_empty:
        tags = tags.filter(model_count__gt=0)
    return tags


def tag_by_slug(*, slug: str) -> Tag | None:
    """The tag with this slug, or None."""
    return Tag.objects.filter(slug=slug).first()


def models_with_tag(*, tag: Tag | str, include_private: bool = False) -> QuerySet[HubModel]:
    """The models carrying `tag` (a Tag or its slug), by Hub id.

    Private models are left out unless asked for: public pages and the public
    API must never list them. Join it with a snapshot's observations to rank.
    """
    condition = Q(model_tags__tag__slug=tag) if isinstance(tag, str) else Q(model_tags__tag=tag)
    models = HubModel.objects.filter(condition)
    if not include_private:
        models = models.filter(private=False)
    return models.select_related("provider").order_by("hub_id")


def untagged_top_models(*, ranked_model_ids: Iterable[int], limit: int = 200) -> list[HubModel]:
    """Models among the first `limit` of `ranked_model_ids` that carry no tag.

    `ranked_model_ids` is a snapshot's model ids in rank order, e.g.
    ``Observation.objects.filter(snapshot=s).order_by("rank").values_list("model_id",
    flat=True)`` (a queryset is sliced in the database, so only `limit` ids
    are read). The answer keeps that order: the most popular untagged model
    first. Two queries.
    """
    if isinstance(ranked_model_ids, QuerySet):
        top = list(ranked_model_ids[:limit])
    else:
        top = []
        for model_id in ranked_model_ids:
            if len(top) >= limit:
                break
            top.append(model_id)
    if not top:
        return []
    models = HubModel.objects.filter(pk__in=top, model_tags__isnull=True).select_related("provider")
    by_id = {model.pk: model for model in models}
    return [by_id[model_id] for model_id in dict.fromkeys(top) if model_id in by_id]
