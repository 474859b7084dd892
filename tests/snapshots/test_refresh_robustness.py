"""One odd record never stops a refresh: it is skipped, counted with its reason, and the
rest is published. Run on PostgreSQL, where these records used to fail the write."""

import pytest

from registry.hub import HubClient
from registry.models import HubModel
from snapshots import selectors
from snapshots.models import Observation, Snapshot
from snapshots.services import snapshot_refresh
from tests.factories import hub_record, hub_records

pytestmark = pytest.mark.django_db


def client_for(hub) -> HubClient:
    return HubClient(endpoint=hub.url, sleep=lambda s: None, backoff_base=0.01)


ODD = {
    "too_long": {"library_name": "l" * 80},
    "too_long_author": {"author": "a" * 101},
    "nul_character": {"tags": ["transformers", "evil\x00tag"]},
    "nul_in_sha": {"sha": "abc\x00def"},
    "lone_surrogate": {"pipeline_tag": "text-\ud800generation"},
    "date_overflow": {"createdAt": "9999-12-31T23:00:00-05:00"},
    "beyond_64_bits": {"likes": 2**64},
}
REASON = {
    "too_long_author": "too_long",
    "nul_in_sha": "nul_character",
}


@pytest.mark.parametrize("case", sorted(ODD))
def test_it_skips_an_odd_record_counts_it_and_publishes_the_rest(case, replay_hub, hub_settings):
    records = hub_records(4)
    records.insert(2, hub_record("odd/record", downloads=999_999_999, **ODD[case]))
    hub = replay_hub(records)
    snapshot = snapshot_refresh(client=client_for(hub), max_models=10, page_size=10)

    assert snapshot.status == Snapshot.Status.COMPLETE, snapshot.error
    assert selectors.latest_snapshot() == snapshot
    reason = REASON.get(case, case)
    assert snapshot.records_skipped == 1
    assert snapshot.skipped_reasons == {reason: {"count": 1, "examples": ["odd/record"]}}
    assert f"1 odd record(s) skipped ({reason} 1)" in snapshot.error
    observed = set(
        Observation.objects.filter(snapshot=snapshot).values_list("model__hub_id", flat=True)
    )
    assert observed == {r["id"] for r in records} - {"odd/record"}
    assert not HubModel.objects.filter(hub_id="odd/record").exists()


def test_an_odd_id_is_stored_printably_among_the_examples(replay_hub, hub_settings):
    hub = replay_hub([*hub_records(2), hub_record("odd/nul\x00id")])
    snapshot = snapshot_refresh(client=client_for(hub), max_models=10, page_size=10)
    assert snapshot.status == Snapshot.Status.COMPLETE, snapshot.error
    assert snapshot.skipped_reasons == {
        "nul_character": {"count": 1, "examples": ["odd/nul\\x00id"]}
    }


def test_it_skips_an_id_listed_twice_and_counts_it(replay_hub, hub_settings):
    records = hub_records(3)
    hub = replay_hub([*records, dict(records[1], downloads=5)])
    snapshot = snapshot_refresh(client=client_for(hub), max_models=10, page_size=10)
    assert snapshot.status == Snapshot.Status.COMPLETE
    assert snapshot.models_seen == 3 and snapshot.source_count == 4
    assert snapshot.skipped_reasons == {
        "duplicate_id": {"count": 1, "examples": [records[1]["id"]]}
    }
    assert Observation.objects.get(snapshot=snapshot, model__hub_id=records[1]["id"]).rank == 2


def test_odd_records_are_counted_by_reason_with_a_few_examples(replay_hub, hub_settings):
    odd = [hub_record(f"odd/long-{i}", library_name="x" * 65) for i in range(7)]
    odd.append(hub_record("odd/huge", downloads=2**70))
    hub = replay_hub([*hub_records(3), *odd])
    snapshot = snapshot_refresh(client=client_for(hub), max_models=20, page_size=20)
    assert snapshot.status == Snapshot.Status.COMPLETE
    assert snapshot.models_seen == 3 and snapshot.records_skipped == 8
    assert snapshot.skipped_reasons["too_long"] == {
        "count": 7,
        "examples": [f"odd/long-{i}" for i in range(5)],
    }
    assert snapshot.skipped_reasons["beyond_64_bits"] == {"count": 1, "examples": ["odd/huge"]}


def test_an_odd_detail_leaves_the_model_out_and_the_rest_published(replay_hub, hub_settings):
    records = hub_records(3)
    # The listing does not carry safetensors; the detail's count is the odd part.
    records[0]["safetensors"] = {"total": 2**64}
    hub = replay_hub(records)
    snapshot = snapshot_refresh(client=client_for(hub), max_models=3, page_size=3)
    assert snapshot.status == Snapshot.Status.COMPLETE
    assert snapshot.skipped_reasons == {
        "beyond_64_bits": {"count": 1, "examples": [records[0]["id"]]}
    }
    observed = Observation.objects.filter(snapshot=snapshot).values_list("model__hub_id", flat=True)
    assert set(observed) == {records[1]["id"], records[2]["id"]}


def test_a_deferred_detail_without_sha_or_last_modified_is_fetched_later(replay_hub, hub_settings):
    bare = [dict(r, sha=None, lastModified=None) for r in hub_records(10)]
    hub = replay_hub(bare)
    first = snapshot_refresh(client=client_for(hub), call_budget=4, max_models=10, page_size=10)
    assert first.status == Snapshot.Status.COMPLETE
    assert (first.details_fetched, first.details_deferred) == (3, 7)

    second = snapshot_refresh(client=client_for(hub), call_budget=50, max_models=10, page_size=10)
    assert (second.details_fetched, second.details_deferred) == (7, 0)
    assert set(HubModel.objects.values_list("parameters", flat=True)) == {7_000_000_000}
    # Every detail is now known to be fetched: nothing more to ask for.
    third = snapshot_refresh(client=client_for(hub), call_budget=50, max_models=10, page_size=10)
    assert (third.details_fetched, third.calls_used) == (0, 1)


def test_the_skipped_records_show_in_health_metrics_and_the_admin(
    client, admin_client, replay_hub, hub_settings
):
    hub = replay_hub([*hub_records(2), hub_record("odd/long", library_name="l" * 80)])
    snapshot = snapshot_refresh(client=client_for(hub), max_models=10, page_size=10)

    hub_settings.METRICS_TOKEN = "operator"
    operator = {"X-Metrics-Token": "operator"}
    last = client.get("/api/v4/health", headers=operator).json()["checks"]["refresh"]["last"]
    assert last["records_skipped"] == 1
    assert last["skipped_reasons"] == {"too_long": {"count": 1, "examples": ["odd/long"]}}

    text = client.get("/metrics", headers=operator).content.decode()
    assert "modelboard_refresh_last_records_skipped 1.0" in text
    assert 'modelboard_records_skipped_total{kind="hourly",reason="too_long"}' in text

    page = admin_client.get(f"/admin/snapshots/snapshot/{snapshot.pk}/change/").content.decode()
    assert "odd/long" in page and "too_long" in page
