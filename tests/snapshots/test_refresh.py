"""Refresh: the real Hub client against the replay hub, faults and all."""

import pytest

from registry.hub import HubClient
from registry.models import HubModel
from registry.replay import FaultPlan
from snapshots import selectors
from snapshots.leases import lease_acquire, lease_release
from snapshots.models import Observation, Snapshot
from snapshots.services import REFRESH_LEASE, RefreshInProgress, snapshot_refresh
from tests.factories import hub_record, hub_records

pytestmark = pytest.mark.django_db


def client_for(hub) -> HubClient:
    waits: list[float] = []
    client = HubClient(endpoint=hub.url, sleep=waits.append, backoff_base=0.01, max_retries=4)
    client.waits = waits
    return client


def test_it_publishes_a_complete_snapshot(replay_hub, hub_settings):
    hub = replay_hub(hub_records(60))
    snapshot = snapshot_refresh(client=client_for(hub), max_models=60, page_size=25)
    assert snapshot.status == Snapshot.Status.COMPLETE
    assert snapshot.models_seen == 60 and snapshot.source_count == 60
    # 3 listing pages + 60 details for models never seen before
    assert snapshot.calls_used == 3 + 60 == snapshot.details_fetched + 3
    assert snapshot.quota_limit == 500 and snapshot.quota_remaining == 500 - 63
    assert snapshot.finished_at >= snapshot.started_at
    assert selectors.latest_snapshot() == snapshot
    top = Observation.objects.get(snapshot=snapshot, rank=1)
    assert top.model.hub_id == "org0/model-00000" and top.downloads == 1_000_000


def test_it_completes_within_budget_through_429s_and_5xx(replay_hub, hub_settings):
    faults = FaultPlan(status_429={1, 4}, status_5xx={2, 7, 8}, malformed={10}, retry_after=3)
    hub = replay_hub(hub_records(40), faults=faults)
    client = client_for(hub)
    snapshot = snapshot_refresh(client=client, call_budget=60, max_models=40, page_size=20)
    assert snapshot.status == Snapshot.Status.COMPLETE, snapshot.error
    assert snapshot.models_seen == 40
    # 2 pages + 40 details + 6 retried faults, all inside the budget of 60
    assert snapshot.calls_used == 48 <= snapshot.call_budget
    assert 3 in client.waits  # Retry-After honoured
    assert Observation.objects.filter(snapshot=snapshot).count() == 40


def test_it_marks_an_exhausted_budget_partial_and_keeps_serving_the_previous(
    replay_hub, hub_settings
):
    hub = replay_hub(hub_records(30))
    first = snapshot_refresh(client=client_for(hub), call_budget=100, max_models=30, page_size=10)
    assert first.status == Snapshot.Status.COMPLETE

    hub.set_records(hub_records(300))
    second = snapshot_refresh(client=client_for(hub), call_budget=5, max_models=300, page_size=10)
    assert second.status == Snapshot.Status.PARTIAL
    assert "budget" in second.error
    assert second.calls_used == 5 and second.models_seen == 50
    assert not Observation.objects.filter(snapshot=second).exists()
    assert selectors.latest_snapshot() == first


def test_it_fetches_detail_only_for_new_or_changed_models(replay_hub, hub_settings):
    records = hub_records(30)
    hub = replay_hub(records)
    snapshot_refresh(client=client_for(hub), max_models=30, page_size=30)

    changed = [dict(r) for r in records]
    changed[5] = {**changed[5], "sha": "a" * 40, "safetensors": {"total": 70_000_000_000}}
    changed.append(hub_record("newcomer/model", downloads=5))
    hub.set_records(changed)
    second = snapshot_refresh(client=client_for(hub), max_models=31, page_size=31)
    assert second.status == Snapshot.Status.COMPLETE
    assert second.details_fetched == 2 and second.calls_used == 1 + 2
    assert HubModel.objects.get(hub_id=records[5]["id"]).param_class == "40-100B"


def test_it_does_not_refetch_detail_for_models_without_a_card(replay_hub, hub_settings):
    bare = [
        {k: v for k, v in r.items() if k not in ("cardData", "safetensors")} for r in hub_records(5)
    ]
    hub = replay_hub(bare)
    assert snapshot_refresh(client=client_for(hub), max_models=5).details_fetched == 5
    assert snapshot_refresh(client=client_for(hub), max_models=5).details_fetched == 0


def test_it_defers_details_the_budget_cannot_pay_for(replay_hub, hub_settings):
    hub = replay_hub(hub_records(50))
    snapshot = snapshot_refresh(client=client_for(hub), call_budget=11, max_models=50, page_size=50)
    assert snapshot.status == Snapshot.Status.COMPLETE
    assert (snapshot.details_fetched, snapshot.details_deferred) == (10, 40)
    assert Observation.objects.filter(snapshot=snapshot).count() == 50
    # The next run picks up where this one stopped.
    again = snapshot_refresh(client=client_for(hub), call_budget=100, max_models=50, page_size=50)
    assert (again.details_fetched, again.details_deferred) == (40, 0)


def test_it_counts_duplicate_ids_across_pages_once(replay_hub, hub_settings):
    hub = replay_hub(hub_records(60), faults=FaultPlan(duplicate_ids=True))
    snapshot = snapshot_refresh(client=client_for(hub), max_models=60, page_size=20)
    assert snapshot.status == Snapshot.Status.COMPLETE
    assert snapshot.models_seen == Observation.objects.filter(snapshot=snapshot).count()
    assert snapshot.source_count > snapshot.models_seen


def test_it_skips_malformed_records_and_says_so(replay_hub, hub_settings):
    records = hub_records(5) + [hub_record("bad/record", downloads="lots")]
    hub = replay_hub(records)
    snapshot = snapshot_refresh(client=client_for(hub), max_models=10, page_size=10)
    assert snapshot.status == Snapshot.Status.COMPLETE
    assert snapshot.models_seen == 5
    assert "1 odd record(s) skipped (invalid 1)" in snapshot.error
    assert snapshot.records_skipped == 1
    assert snapshot.skipped_reasons == {"invalid": {"count": 1, "examples": ["bad/record"]}}


def test_it_fails_cleanly_when_the_hub_keeps_failing(replay_hub, hub_settings):
    hub = replay_hub(hub_records(5), faults=FaultPlan(rate_5xx=1.0))
    snapshot = snapshot_refresh(client=client_for(hub), max_models=5, page_size=5)
    assert snapshot.status == Snapshot.Status.FAILED
    assert "503" in snapshot.error
    assert snapshot.calls_used == 5  # one call and four bounded retries
    assert selectors.latest_snapshot() is None


def test_it_refuses_to_overlap_another_refresh(replay_hub, hub_settings):
    hub = replay_hub(hub_records(5))
    token = lease_acquire(name=REFRESH_LEASE, ttl_seconds=60)
    with pytest.raises(RefreshInProgress):
        snapshot_refresh(client=client_for(hub), max_models=5)
    assert not Snapshot.objects.exists()
    lease_release(token=token)
    assert snapshot_refresh(client=client_for(hub), max_models=5).status == "complete"


def test_it_marks_runs_left_running_by_a_dead_worker_as_failed(replay_hub, hub_settings):
    from tests.factories import T0

    stale = Snapshot.objects.create(taken_at=T0, started_at=T0, status=Snapshot.Status.RUNNING)
    hub = replay_hub(hub_records(5))
    snapshot_refresh(client=client_for(hub), max_models=5)
    stale.refresh_from_db()
    assert stale.status == Snapshot.Status.FAILED and "abandoned" in stale.error
