"""The hourly refresh's hot tier: top N by downloads and by trending, and the newest models."""

from datetime import timedelta

import pytest
from django.utils import timezone

from registry.hub import HubClient
from snapshots.hot_tier import Listing, hot_tier_listings
from snapshots.models import Observation, Snapshot
from snapshots.services import snapshot_refresh
from tests.factories import hub_record

pytestmark = pytest.mark.django_db


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def tier_settings(hub_settings):
    hub_settings.HOT_TIER_SORTS = ["downloads", "trendingScore"]
    hub_settings.HOT_TIER_NEW_DAYS = 7
    hub_settings.HOT_TIER_NEW_MAX = 1000
    hub_settings.REFRESH_SORT = ""
    return hub_settings


def test_it_merges_the_top_by_downloads_and_trending_with_the_new_models(replay_hub, tier_settings):
    now = timezone.now()
    old = iso(now - timedelta(days=400))
    records = [
        # Top 2 by downloads.
        hub_record("big/one", downloads=9_000, trendingScore=1, createdAt=old),
        hub_record("big/two", downloads=8_000, trendingScore=2, createdAt=old),
        # Top 2 by trending (one of them also new).
        hub_record("hot/one", downloads=10, trendingScore=900, createdAt=old),
        hub_record(
            "hot/new", downloads=5, trendingScore=800, createdAt=iso(now - timedelta(days=1))
        ),
        # New this week, neither big nor hot.
        hub_record("new/a", downloads=1, trendingScore=0, createdAt=iso(now - timedelta(days=2))),
        hub_record("new/b", downloads=2, trendingScore=0, createdAt=iso(now - timedelta(days=6))),
        # None of the above.
        hub_record("old/quiet", downloads=3, trendingScore=0, createdAt=old),
        hub_record(
            "old/last-week", downloads=4, trendingScore=0, createdAt=iso(now - timedelta(days=8))
        ),
    ]
    hub = replay_hub(records)
    client = HubClient(endpoint=hub.url, sleep=lambda s: None)
    snapshot = snapshot_refresh(client=client, max_models=2, page_size=2, call_budget=100)

    assert snapshot.status == Snapshot.Status.COMPLETE, snapshot.error
    observed = set(
        Observation.objects.filter(snapshot=snapshot).values_list("model__hub_id", flat=True)
    )
    assert observed == {"big/one", "big/two", "hot/one", "hot/new", "new/a", "new/b"}
    assert snapshot.models_seen == 6 and snapshot.records_skipped == 0  # overlaps are no oddity
    # downloads: 1 page; trending: 1 page; createdAt: pages of 2 until one older
    # than 7 days shows (hot/new, new/a | new/b, old/last-week), then 6 details.
    assert snapshot.calls_used == 1 + 1 + 2 + 6


def test_the_size_setting_and_its_old_name(tier_settings):
    now = timezone.now()
    tier_settings.HOT_TIER_SIZE = 50_000
    listings = hot_tier_listings(now=now)
    assert listings == [
        Listing("downloads", 50_000),
        Listing("trendingScore", 50_000),
        Listing("createdAt", 1000, created_since=now - timedelta(days=7)),
    ]
    tier_settings.REFRESH_SORT = "likes"
    assert hot_tier_listings(now=now, size=10) == [Listing("likes", 10)]
    assert hot_tier_listings(now=now, size=10, sort="downloads") == [Listing("downloads", 10)]


def tier_size_with(**env) -> list:
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    probe = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps([settings.HOT_TIER_SIZE, settings.REFRESH_MAX_MODELS, "
        "settings.HOT_TIER_NEW_MAX, settings.HOT_TIER_SORTS]))"
    )
    ours = ("HOT_TIER_SIZE", "REFRESH_MAX_MODELS", "HOT_TIER_NEW_MAX", "HOT_TIER_SORTS")
    clean = {k: v for k, v in os.environ.items() if k not in ours}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "registry.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_the_settings_default_to_a_50k_tier_and_read_the_old_name():
    assert tier_size_with() == [50_000, 50_000, 50_000, ["downloads", "trendingScore"]]
    assert tier_size_with(REFRESH_MAX_MODELS="1234")[:2] == [1234, 1234]
    assert tier_size_with(REFRESH_MAX_MODELS="1234", HOT_TIER_SIZE="777")[:2] == [777, 777]
