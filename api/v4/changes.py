"""/api/v4/changes?since=<snapshot id>: the delta feed.

What changed in the public list between the client's snapshot and the latest
complete one: removed models, added models (whole rows), catalog updates, and
per-field corrections to what the client can predict. The format, and the
reference client that applies it, are in `changes_codec`.

A `since` the feed cannot compare with (no such snapshot, not complete, or
its observations pruned) is `410 resync_required`: the error names the latest
snapshot, and the client refetches /api/v4/models and continues from there.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers as fields
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ApiError, invalid_parameter
from api.shared import latest_snapshot_or_503
from registry.caching import cached_get
from snapshots.models import Snapshot
from tagging import selectors as tag_selectors

from . import selectors, serializers
from .changes_codec import CATALOG_FIELDS, changes_encode, key_gaps
from .params import reject_unknown
from .schema import IF_NONE_MATCH, NOT_MODIFIED, FeedRow, SnapshotRef, errors
from .views import CACHE_NAMESPACE

cached = cached_get(CACHE_NAMESPACE, version=selectors.latest_snapshot_id)


def _since(request: Request) -> int:
    values = request.query_params.getlist("since")
    if len(values) > 1:
        raise invalid_parameter("since", "must be given once")
    raw = values[0] if values else ""
    if raw == "":
        raise invalid_parameter("since", "is required: the id of the snapshot you hold")
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter("since", "must be a snapshot id (an integer)") from None
    if value < 1:
        raise invalid_parameter("since", "must be a snapshot id (an integer)")
    return value


def _resync(since: int, reason: str, latest: Snapshot) -> ApiError:
    return ApiError(
        code="resync_required",
        message=(
            f"Cannot give changes since snapshot {since}: {reason}. Refetch the full list "
            f"from /api/v4/models (snapshot {latest.pk}), then ask for changes since {latest.pk}."
        ),
        status_code=status.HTTP_410_GONE,
        fields={"since": [reason]},
        extra={"latest_snapshot": serializers.snapshot_ref(latest)},
    )


def _feed(*, since: Snapshot, latest: Snapshot, count: int, **parts) -> dict:
    return {
        "since": serializers.snapshot_ref(since),
        "snapshot": serializers.snapshot_ref(latest),
        "next_since": latest.pk,
        "baseline_24h": latest.baseline_24h_id,
        "baseline_7d": latest.baseline_7d_id,
        "count": count,
        "removed": parts.get("removed", []),
        "added": parts.get("added", []),
        "updated": parts.get("updated", []),
        "changed": parts.get("changed", {}),
    }


class ChangesQuery(fields.Serializer):
    since = fields.IntegerField(
        min_value=1, help_text="The id of the snapshot the client holds (from /api/v4/models)."
    )


FEED = inline_serializer(
    name="ChangeFeed",
    fields={
        "since": SnapshotRef(),
        "snapshot": SnapshotRef(),
        "next_since": fields.IntegerField(help_text="Ask for changes since this id next time."),
        "baseline_24h": fields.IntegerField(allow_null=True),
        "baseline_7d": fields.IntegerField(allow_null=True),
        "count": fields.IntegerField(min_value=0, help_text="Public models in the snapshot."),
        "removed": fields.ListField(
            child=fields.IntegerField(), help_text="Keys of removed models, as gaps."
        ),
        "added": fields.ListField(child=FeedRow()),
        "updated": fields.ListField(
            child=fields.DictField(), help_text="Catalog fields of revised models, by key."
        ),
        "changed": fields.DictField(
            child=fields.JSONField(),
            help_text="Per field: keys (as gaps) and corrections to the client's prediction.",
        ),
    },
)


@cached
@extend_schema(
    operation_id="changes_list",
    summary="What changed since the client's snapshot (the delta feed)",
    parameters=[ChangesQuery, IF_NONE_MATCH],
    responses={200: FEED, **NOT_MODIFIED, **errors(400, 410, 503)},
    tags=["models"],
)
@api_view(["GET", "HEAD"])
def changes(request: Request) -> Response:
    """What changed in the public list since snapshot `since`, up to the latest one."""
    reject_unknown(request, ("since",))
    since_id = _since(request)
    latest = latest_snapshot_or_503()
    if since_id == latest.pk:
        count = selectors.public_rows(snapshot=latest).count()
        return Response(_feed(since=latest, latest=latest, count=count))
    since = selectors.complete_snapshot(pk=since_id)
    if since is None:
        exists = Snapshot.objects.filter(pk=since_id).exists()
        raise _resync(since_id, "it is not complete" if exists else "no such snapshot", latest)
    old = selectors.snapshot_figures(snapshot=since)
    if old.observations == 0 or old.observations < since.models_seen:
        raise _resync(since_id, "its observations were pruned", latest)
    new = selectors.snapshot_figures(snapshot=latest)
    removed, added, updated, changed = changes_encode(
        old=old.rows, new=new.rows, derive_24h=latest.baseline_24h_id == since.pk
    )
    rows = []
    if added or updated:
        page = list(
            selectors.public_rows(snapshot=latest)
            .filter(model_id__in=[*added, *updated])
            .order_by("model_id")
        )
        tags = tag_selectors.tags_for_models(model_ids=[o.model_id for o in page])
        rows = [
            serializers.without_scores(
                serializers.model_row(o, snapshot=latest, tags=tags[o.model_id])
            )
            for o in page
        ]
    fresh = set(added)
    return Response(
        _feed(
            since=since,
            latest=latest,
            count=len(new.rows),
            removed=key_gaps(removed),
            added=[row for row in rows if row["key"] in fresh],
            updated=[
                {"key": row["key"], **{name: row[name] for name in CATALOG_FIELDS}}
                for row in rows
                if row["key"] not in fresh
            ],
            changed=changed,
        )
    )
