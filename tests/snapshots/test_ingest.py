"""Ingest: the bulk write every snapshot goes through."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import HubModel, Provider, ProviderAlias
from registry.records import parse_hub_record
from snapshots.ingest import snapshot_ingest
from snapshots.models import Observation, Snapshot
from tests.factories import T0, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db


def test_it_writes_models_with_normalized_dimensions():
    snap = published_snapshot(
        [
            hub_record(
                "meta-llama/Llama-3.1-8B",
                cardData={"license": "llama3.1"},
                safetensors={"total": 8_030_261_248},
            ),
            hub_record("someone/tiny", cardData={"license": "mit"}, safetensors={"total": 5_000}),
        ]
    )
    llama = HubModel.objects.get(hub_id="meta-llama/Llama-3.1-8B")
    assert llama.provider.name == "Meta"  # seeded alias
    assert (llama.license, llama.license_class) == ("llama3.1", "open-weights")
    assert (llama.parameters, llama.param_class) == (8_030_261_248, "8-15B")
    tiny = HubModel.objects.get(hub_id="someone/tiny")
    assert tiny.provider is None and tiny.provider_name == "someone"
    assert (tiny.license_class, tiny.param_class) == ("permissive", "<1B")
    assert snap.models_seen == 2 and snap.status == Snapshot.Status.COMPLETE


def test_it_ranks_by_downloads_then_likes_then_id_with_unknowns_last():
    snap = published_snapshot(
        [
            hub_record("a/low", downloads=10, likes=1),
            hub_record("a/none", downloads=None, likes=99),
            hub_record("a/tie-fewer-likes", downloads=500, likes=1),
            hub_record("a/tie-more-likes", downloads=500, likes=7),
            hub_record("a/top", downloads=9000, likes=0),
        ]
    )
    order = list(
        Observation.objects.filter(snapshot=snap)
        .order_by("rank")
        .values_list("model__hub_id", "rank")
    )
    assert order == [
        ("a/top", 1),
        ("a/tie-more-likes", 2),
        ("a/tie-fewer-likes", 3),
        ("a/low", 4),
        ("a/none", 5),
    ]


def test_it_keeps_the_last_record_of_a_duplicated_id():
    snap = published_snapshot([hub_record("a/dup", downloads=1), hub_record("a/dup", downloads=2)])
    assert snap.models_seen == 1
    assert Observation.objects.get(snapshot=snap).downloads == 2


def test_it_keeps_detail_fields_when_a_later_record_lacks_them():
    published_snapshot([hub_record("a/m", cardData={"license": "mit"}, safetensors={"total": 3e9})])
    listing_only = {
        k: v
        for k, v in hub_record("a/m", downloads=5).items()
        if k not in ("cardData", "safetensors", "tags")
    }
    published_snapshot([listing_only], taken_at=T0 + days(1))
    model = HubModel.objects.get(hub_id="a/m")
    assert (model.license, model.parameters, model.param_class) == ("mit", 3_000_000_000, "3-8B")


def test_it_updates_only_models_that_changed():
    records = hub_records(20)
    published_snapshot(records)
    records[3] = {**records[3], "pipeline_tag": "image-text-to-text", "sha": "f" * 40}
    snapshot = Snapshot.objects.create(taken_at=T0 + days(1), started_at=T0 + days(1))
    result = snapshot_ingest(
        snapshot=snapshot, records=[parse_hub_record(r) for r in records], seen_at=T0
    )
    assert (result.models_created, result.models_updated, result.models_seen) == (0, 1, 20)
    assert HubModel.objects.get(hub_id=records[3]["id"]).pipeline_tag == "image-text-to-text"


def test_it_assigns_providers_from_curated_aliases_case_insensitively():
    acme = Provider.objects.create(slug="acme", name="Acme Labs")
    ProviderAlias.objects.create(provider=acme, author="ACME")
    published_snapshot([hub_record("acme/x"), hub_record("other/y")])
    assert HubModel.objects.get(hub_id="acme/x").provider == acme
    assert HubModel.objects.get(hub_id="other/y").provider is None


@pytest.mark.parametrize("n", [10, 400])
def test_its_query_count_does_not_grow_with_the_number_of_models(n):
    records = [parse_hub_record(r) for r in hub_records(n)]
    snapshot = Snapshot.objects.create(taken_at=T0, started_at=T0)
    with CaptureQueriesContext(connection) as ctx:
        snapshot_ingest(snapshot=snapshot, records=records, seen_at=T0)
    # Alias map, existing catalog, keys for the new models (PostgreSQL
    # reserves them from the sequence), model insert, the two baseline
    # look-ups (deltas are computed as observations are written; no baseline
    # here, so no baseline rows to read), observation insert, the snapshot's
    # baselines saved, when its score components were computed: nine
    # statements, plus the extra batches SQLite's 999-variable limit forces.
    # On PostgreSQL the observations go to a partition of their own: whether
    # the snapshot has rows already, the fresh table, then its indexes and
    # the attach in one round trip: three more. Never one per model.
    partition = 3 if connection.vendor == "postgresql" else 0
    assert len(ctx.captured_queries) <= 9 + partition + n // 20, [
        q["sql"][:60] for q in ctx.captured_queries
    ]


def test_it_reports_the_models_it_created_or_changed():
    records = hub_records(5)
    published_snapshot(records)
    by_hub_id = dict(HubModel.objects.values_list("hub_id", "pk"))
    records[1] = {**records[1], "library_name": "peft"}  # a catalog change
    records[2] = {**records[2], "downloads": 1}  # a metric: not a catalog change
    records.append(hub_record("new/model"))
    snapshot = Snapshot.objects.create(taken_at=T0 + days(1), started_at=T0 + days(1))
    result = snapshot_ingest(
        snapshot=snapshot, records=[parse_hub_record(r) for r in records], seen_at=T0
    )
    new_pk = HubModel.objects.get(hub_id="new/model").pk
    assert sorted(result.touched_model_ids) == sorted([by_hub_id[records[1]["id"]], new_pk])
    assert (result.models_created, result.models_updated) == (1, 1)


def test_the_catalog_is_compared_a_slice_at_a_time_with_the_same_result(monkeypatch):
    # A million catalog rows are never read back at once: chunks of the ids,
    # each with its own new keys; the rows come out as with one chunk.
    monkeypatch.setattr("snapshots.ingest.CATALOG_CHUNK", 3)
    records = hub_records(7)
    published_snapshot(records[:4])
    records[1] = {**records[1], "library_name": "peft"}
    snapshot = Snapshot.objects.create(taken_at=T0 + days(1), started_at=T0 + days(1))
    result = snapshot_ingest(
        snapshot=snapshot, records=[parse_hub_record(r) for r in records], seen_at=T0
    )
    assert (result.models_seen, result.models_created, result.models_updated) == (7, 3, 1)
    catalog = dict(HubModel.objects.values_list("hub_id", "library_name"))
    assert len(catalog) == 7
    assert catalog[records[1]["id"]] == "peft"
    assert catalog[records[6]["id"]] == "transformers"
    observed = dict(
        Observation.objects.filter(snapshot=snapshot).values_list("model__hub_id", "rank")
    )
    assert observed == {r["id"]: rank for rank, r in enumerate(records, start=1)}
