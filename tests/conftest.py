"""Shared fixtures: eager Celery, a clean cache, the replay hub, test data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry.celery import app as celery_app

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MODELBOARD_SHARED_DATA", REPO.parent / "shared" / "data"))
HUB_TRENDING = SHARED_DATA / "hub-trending"


@pytest.fixture(autouse=True, scope="session")
def _celery_eager():
    # Tasks run in-process in tests, whatever broker the settings name.
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _api_gate_memo(request, settings):
    """The API gate's memo of keys and plans: emptied, then the free plan read ahead.

    A running site reads the free plan once per process every few seconds;
    reading it here keeps that query out of the query counts tests pin.
    """
    from api import gate

    gate.forget()
    gate.counter.forget()  # leases of counters the cache clearing has just removed
    settings.API_KEY_CACHE_SECONDS = 3600  # nothing re-read in the middle of a test
    db_fixtures = {
        "db",
        "transactional_db",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
    }
    if request.node.get_closest_marker("django_db") or db_fixtures & set(request.fixturenames):
        request.getfixturevalue("django_db_setup")
        with request.getfixturevalue("django_db_blocker").unblock():
            gate.anonymous_plan()
    yield
    gate.forget()


@pytest.fixture
def hub_trending() -> Path:
    """The real archived Hub snapshots; tests using it skip if the folder is absent."""
    if not HUB_TRENDING.is_dir():
        pytest.skip(f"archived Hub data not found at {HUB_TRENDING}")
    return HUB_TRENDING


@pytest.fixture
def replay_hub():
    """Start replay hubs serving given records; all are stopped after the test."""
    from registry.replay import ReplayHub

    started: list[ReplayHub] = []

    def start(records, **kwargs) -> ReplayHub:
        hub = ReplayHub(records, **kwargs).start()
        started.append(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


@pytest.fixture
def hub_settings(settings):
    """Settings for refreshes in tests: quick retries, small lease."""
    settings.HUB_MAX_RETRIES = 4
    settings.HUB_MAX_WAIT_SECONDS = 2
    settings.REFRESH_PAGE_SIZE = 100
    settings.REFRESH_CALL_BUDGET = 100
    # One listing by downloads, as before tiers; tests of the tier set their own.
    settings.HOT_TIER_SORTS = ["downloads"]
    settings.HOT_TIER_NEW_DAYS = 0
    return settings
