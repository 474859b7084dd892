"""The hot tier: which listings an hourly refresh reads.

The whole Hub (about 2M models) is crawled once a day (`snapshots.crawl`);
every hour a refresh snapshots the models that move: the top `HOT_TIER_SIZE`
by downloads and by trending score (two sorted listings, `HOT_TIER_SORTS`),
and every model created in the last `HOT_TIER_NEW_DAYS` days (the listing
sorted by `createdAt`, read until its records are older than that). The
listings are merged, one record per model. Watched models join through
`watched_model_ids` once watchlists exist.

`REFRESH_SORT`, when set, replaces all of this with one listing in that order
(the behaviour before tiers), as `manage.py refresh --sort` does for a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings


@dataclass(frozen=True)
class Listing:
    """One sorted listing: at most `max_models` records, or until `created_since`."""

    sort: str
    max_models: int | None
    created_since: datetime | None = None


def hot_tier_size() -> int:
    """N, the models taken from each sorted listing (`HOT_TIER_SIZE`)."""
    return settings.HOT_TIER_SIZE


def hot_tier_listings(
    *, now: datetime, size: int | None = None, sort: str | None = None
) -> list[Listing]:
    """The listings a refresh reads at `now`; `sort` asks for that one listing alone."""
    size = hot_tier_size() if size is None else size
    sort = sort or settings.REFRESH_SORT
    if sort:
        return [Listing(sort, size)]
    listings = [Listing(name, size) for name in settings.HOT_TIER_SORTS]
    if settings.HOT_TIER_NEW_DAYS > 0:
        since = now - timedelta(days=settings.HOT_TIER_NEW_DAYS)
        listings.append(Listing("createdAt", settings.HOT_TIER_NEW_MAX, created_since=since))
    return listings


def watched_model_ids() -> Sequence[str]:
    """Hub ids of watched models, fetched every hour whatever their rank.

    The hook for watchlists (a later change): until they exist, none.
    """
    return ()
