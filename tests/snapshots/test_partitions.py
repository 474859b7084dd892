"""Observations on PostgreSQL: a partition per snapshot, attached at publish, dropped whole."""

import pytest
from django.db import connection, transaction

from registry.models import HubModel
from registry.records import parse_hub_record
from snapshots.ingest import snapshot_ingest
from snapshots.models import Observation, Snapshot
from snapshots.partitions import (
    DEFAULT_PARTITION,
    observation_partitions,
    observations_retire,
    partition_name,
)
from snapshots.retention import observations_prune
from tests.factories import T0, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions exist on PostgreSQL only"
)


def table_exists(name: str) -> bool:
    if connection.vendor != "postgresql":
        return name in connection.introspection.table_names()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def column_types() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
            [Observation._meta.db_table],
        )
        return dict(cursor.fetchall())


def rows_of(snapshot: Snapshot) -> dict[str, tuple]:
    return {
        o.model.hub_id: (o.rank, o.downloads, o.likes)
        for o in Observation.objects.filter(snapshot=snapshot).select_related("model")
    }


@postgresql_only
def test_observations_are_a_table_partitioned_by_snapshot():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT partstrat, array_length(partattrs::int2[], 1) FROM pg_partitioned_table "
            "WHERE partrelid = %s::regclass",
            [Observation._meta.db_table],
        )
        assert cursor.fetchone() == ("l", 1)  # LIST, on one column
    assert table_exists(DEFAULT_PARTITION)


@postgresql_only
def test_rows_are_narrow_32_bit_keys_single_precision_components_no_id():
    types = column_types()
    assert "id" not in types
    assert types["snapshot_id"] == "integer"
    assert types["model_id"] == "integer"
    assert types["pct_downloads"] == "real"
    # Counts stay 64-bit.
    assert types["downloads"] == types["downloads_all_time"] == types["likes"] == "bigint"


def test_each_published_snapshot_gets_its_own_partition_and_reads_back():
    first = published_snapshot([hub_record("a/x", downloads=10), hub_record("b/y", downloads=5)])
    second = published_snapshot(
        [hub_record("a/x", downloads=3), hub_record("c/z", downloads=7)], taken_at=T0 + days(1)
    )
    if connection.vendor == "postgresql":
        assert observation_partitions() == [first.pk, second.pk]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")
            assert cursor.fetchone()[0] == 0
    assert rows_of(first) == {"a/x": (1, 10, 10), "b/y": (2, 5, 10)}
    assert rows_of(second) == {"c/z": (1, 7, 10), "a/x": (2, 3, 10)}
    # The composite key: one model's observation in one snapshot.
    model = HubModel.objects.get(hub_id="a/x")
    assert Observation.objects.get(pk=(model.pk, second.pk)).downloads == 3


def test_counts_past_32_bits_come_back_exactly():
    snapshot = published_snapshot(
        [hub_record("big/one", downloads=9_000_000_000_000_000, likes=3_000_000_000)]
    )
    observation = Observation.objects.get(snapshot=snapshot)
    assert (observation.downloads, observation.likes) == (9_000_000_000_000_000, 3_000_000_000)


def test_a_rolled_back_ingest_leaves_no_partition_and_no_row():
    snapshot = Snapshot.objects.create(taken_at=T0, started_at=T0)
    records = [parse_hub_record(r) for r in hub_records(50)]

    class Killed(Exception):
        pass

    with pytest.raises(Killed), transaction.atomic():
        snapshot_ingest(snapshot=snapshot, records=records, seen_at=T0)
        if connection.vendor == "postgresql":
            assert table_exists(partition_name(snapshot.pk))  # attached, in the transaction
        assert Observation.objects.filter(snapshot=snapshot).count() == 50
        raise Killed
    assert not table_exists(partition_name(snapshot.pk))
    assert observation_partitions() == []
    assert not Observation.objects.exists()
    assert not HubModel.objects.exists()


def test_retention_drops_the_partition_of_an_old_snapshot_and_keeps_the_rest():
    old = published_snapshot(hub_records(30), taken_at=T0)
    kept = published_snapshot(hub_records(20), taken_at=T0 + days(40))
    result = observations_prune(older_than_days=30, now=T0 + days(41))
    assert (result.snapshots, result.observations) == (1, 30)
    assert not Observation.objects.filter(snapshot=old).exists()
    assert Observation.objects.filter(snapshot=kept).count() == 20
    assert Snapshot.objects.filter(pk=old.pk).exists()  # the snapshot row stays
    if connection.vendor == "postgresql":
        assert not table_exists(partition_name(old.pk))
        assert observation_partitions() == [kept.pk]


def test_retention_never_deletes_observations_row_by_row_on_postgresql(
    django_assert_max_num_queries,
):
    if connection.vendor != "postgresql":
        pytest.skip("partitions exist on PostgreSQL only")
    old = published_snapshot(hub_records(30), taken_at=T0)
    published_snapshot(hub_records(20), taken_at=T0 + days(40))
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        observations_prune(older_than_days=30, now=T0 + days(41))
    statements = [q["sql"] for q in ctx.captured_queries]
    assert f"DROP TABLE {partition_name(old.pk)}" in statements
    assert not any(s.startswith(f'DELETE FROM "{Observation._meta.db_table}"') for s in statements)


def test_deleting_a_snapshot_drops_its_partition():
    gone = published_snapshot(hub_records(10), taken_at=T0)
    kept = published_snapshot(hub_records(10), taken_at=T0 + days(1))
    gone_pk = gone.pk
    gone.delete()
    assert not Observation.objects.filter(snapshot_id=gone_pk).exists()
    assert Observation.objects.filter(snapshot=kept).count() == 10
    if connection.vendor == "postgresql":
        assert not table_exists(partition_name(gone_pk))
        assert observation_partitions() == [kept.pk]


def test_rows_written_through_the_orm_land_in_the_default_partition_and_retire():
    snapshot = Snapshot.objects.create(taken_at=T0, started_at=T0, status="complete")
    model = HubModel.objects.create(hub_id="orm/row", author="orm", first_seen_at=T0)
    Observation.objects.create(snapshot=snapshot, model=model, rank=1, downloads=4)
    assert Observation.objects.get(snapshot=snapshot).downloads == 4
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")
            assert cursor.fetchone()[0] == 1
    # A second write to the same snapshot goes beside the first, not into a new partition.
    other = HubModel.objects.create(hub_id="orm/other", author="orm", first_seen_at=T0)
    with transaction.atomic():
        snapshot_ingest(
            snapshot=snapshot, records=[parse_hub_record(hub_record("orm/other"))], seen_at=T0
        )
    assert Observation.objects.filter(snapshot=snapshot).count() == 2
    assert observation_partitions() == []
    assert Observation.objects.filter(model=other).count() == 1
    assert observations_retire(snapshot_id=snapshot.pk) == 2
    assert not Observation.objects.exists()
