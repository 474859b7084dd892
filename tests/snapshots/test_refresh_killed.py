"""A refresh killed mid-run (SIGKILL: no cleanup runs) leaves nothing visible."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from registry.hub import HubClient
from registry.replay import FaultPlan
from snapshots import selectors
from snapshots.models import Observation, Snapshot
from snapshots.services import snapshot_refresh
from tests.conftest import REPO
from tests.factories import hub_records, published_snapshot

# Serialized rollback restores the seeded rows (plans, providers, groups) after the flush.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def wait_for(predicate, child, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if child.poll() is not None:
            raise AssertionError(f"refresh exited early: {child.stderr.read().decode()}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the refresh to get going")


def test_it_leaves_the_previous_snapshot_serving_and_the_next_run_succeeds(
    replay_hub, hub_settings
):
    previous = published_snapshot(hub_records(10))
    hub = replay_hub(hub_records(200), faults=FaultPlan(rate_slow=1.0, slow_seconds=0.1))
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "HF_ENDPOINT": hub.url,
        "REFRESH_LEASE_SECONDS": "3600",
    }
    child = subprocess.Popen(
        [sys.executable, "manage.py", "refresh", "--max-models=200", "--page-size=10"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        running = Snapshot.objects.filter(status=Snapshot.Status.RUNNING)
        wait_for(lambda: running.exists() and hub.requests_served >= 5, child)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    killed = Snapshot.objects.get(status=Snapshot.Status.RUNNING)
    assert not Observation.objects.filter(snapshot=killed).exists()
    assert selectors.latest_snapshot() == previous

    # The lease is still held by the dead process, until it would expire in
    # an hour; on the same host a dead holder is noticed and taken over.
    hub.faults = FaultPlan()
    client = HubClient(endpoint=hub.url, sleep=lambda s: None)
    after = snapshot_refresh(client=client, max_models=200, page_size=100, call_budget=300)
    assert after.status == Snapshot.Status.COMPLETE
    assert selectors.latest_snapshot() == after
    killed.refresh_from_db()
    assert killed.status == Snapshot.Status.FAILED and "abandoned" in killed.error
