"""A crawl killed mid-listing (SIGKILL: no cleanup runs) resumes where it stopped."""

import os
import signal
import subprocess
import sys

import pytest

from registry.hub import HubClient
from registry.replay import FaultPlan
from snapshots.crawl import crawl_run
from snapshots.models import Crawl, CrawlPage, DailyObservation, Snapshot
from tests.conftest import REPO
from tests.factories import hub_records
from tests.snapshots.test_refresh_killed import database_url, wait_for

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def test_a_killed_crawl_resumes_from_its_checkpoint_without_duplicates_or_gaps(
    replay_hub, hub_settings
):
    records = [dict(r, downloadsAllTime=5_000_000 + i) for i, r in enumerate(hub_records(200))]
    hub = replay_hub(records, faults=FaultPlan(rate_slow=1.0, slow_seconds=0.2))
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "HF_ENDPOINT": hub.url,
        "CRAWL_LEASE_SECONDS": "3600",
        "CRAWL_QUOTA_RESERVE": "0",
    }
    child = subprocess.Popen(
        [sys.executable, "manage.py", "crawl", "--page-size=10"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: CrawlPage.objects.count() >= 3, child)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    crawl = Crawl.objects.get()
    staged = crawl.pages_done
    assert crawl.status == Crawl.Status.RUNNING and 3 <= staged < 20
    # The checkpoint and the staged pages agree: each page staged with its cursor.
    assert CrawlPage.objects.filter(crawl=crawl).count() == staged
    assert crawl.records_staged == 10 * staged
    assert not Snapshot.objects.filter(kind=Snapshot.Kind.DAILY).exists()
    served_before = hub.requests_served

    # The lease is still the dead process's; on the same host it is taken over.
    hub.faults = FaultPlan()
    client = HubClient(endpoint=hub.url, sleep=lambda s: None)
    outcome = crawl_run(client=client, page_size=10, call_budget=100)
    assert outcome.outcome == "published" and outcome.crawl.pk == crawl.pk
    # It reads on from the page after the last one staged (the page in flight
    # at the kill, served but never staged, is read again): no page twice
    # in the crawl, none missing.
    assert client.calls_made == 20 - staged
    assert hub.requests_served - served_before == client.calls_made
    snapshot = outcome.snapshot
    assert snapshot.models_seen == 200 and snapshot.records_skipped == 0
    assert outcome.crawl.pages_done == 20 and outcome.crawl.records_staged == 200
    rows = dict(DailyObservation.objects.values_list("model__hub_id", "downloads_all_time"))
    assert rows == {r["id"]: r["downloadsAllTime"] for r in records}
