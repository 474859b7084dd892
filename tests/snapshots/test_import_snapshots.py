"""manage.py import_snapshots: archives in, snapshots out, nothing half-done."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from registry.models import HubModel
from snapshots.models import Observation, Snapshot
from tests.factories import hub_record

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("import_snapshots", *map(str, args), "--no-progress", stdout=out)
    return out.getvalue()


def write(path, content) -> str:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_it_imports_each_of_the_three_forms(tmp_path):
    bare = write(tmp_path / "2026-03-02T1217Z.json", [hub_record("a/one", downloads=5)])
    wrapped = write(
        tmp_path / "wrapped.json",
        {"fetched_at": "2026-03-03T06:00:00+02:00", "models": [hub_record("a/two")]},
    )
    lines = "\n".join(json.dumps(hub_record(f"a/line-{i}")) for i in range(3)) + "\n\n"
    jsonl = write(tmp_path / "2026-03-04.jsonl", lines)
    out = run(bare, wrapped, jsonl)
    assert "Imported 3 snapshot(s) with 5 observations" in out
    taken = {s.source_name: s.taken_at.isoformat() for s in Snapshot.objects.all()}
    assert taken == {
        "2026-03-02T1217Z.json": "2026-03-02T12:17:00+00:00",
        "wrapped.json": "2026-03-03T04:00:00+00:00",  # the offset is kept, then stored as UTC
        "2026-03-04.jsonl": "2026-03-04T00:00:00+00:00",
    }
    assert all(s.status == Snapshot.Status.COMPLETE for s in Snapshot.objects.all())


def test_it_prefers_fetched_at_to_date_and_the_option_to_both(tmp_path):
    both = {"date": "2026-01-01", "fetched_at": "2026-02-02T02:02:00Z", "models": [hub_record()]}
    path = write(tmp_path / "2025-12-31T0000Z.json", both)
    run(path)
    assert Snapshot.objects.get().taken_at.isoformat() == "2026-02-02T02:02:00+00:00"
    other = write(tmp_path / "other.json", {**both, "models": [hub_record("b/c")]})
    run(other, "--taken-at", "2026-05-05T05:05:00Z")
    assert (
        Snapshot.objects.get(source_name="other.json")
        .taken_at.isoformat()
        .startswith("2026-05-05T05:05")
    )


def test_it_is_idempotent(tmp_path):
    path = write(tmp_path / "2026-03-02T1217Z.json", [hub_record("a/one"), hub_record("a/two")])
    run(path)
    out = run(path)
    assert "Imported 0 snapshot(s)" in out and "1 already imported" in out
    assert Snapshot.objects.count() == 1 and Observation.objects.count() == 2


def test_it_names_the_file_and_record_and_writes_nothing_when_one_is_bad(tmp_path):
    good = write(tmp_path / "2026-03-01T0000Z.json", [hub_record("a/good")])
    bad = write(
        tmp_path / "2026-03-02T0000Z.json",
        [hub_record("a/fine"), hub_record("a/broken", downloads="many")],
    )
    with pytest.raises(CommandError) as excinfo:
        run(good, bad)
    message = str(excinfo.value)
    assert "2026-03-02T0000Z.json" in message and "record 1" in message
    assert "downloads" in message and "nothing was written" in message
    assert not Snapshot.objects.exists() and not HubModel.objects.exists()


def test_it_gives_the_line_of_a_bad_json_lines_record(tmp_path):
    path = write(tmp_path / "2026-03-02.jsonl", json.dumps(hub_record()) + "\n{not json\n")
    with pytest.raises(CommandError, match="line 2"):
        run(path)


def test_it_asks_for_a_time_when_a_file_has_none(tmp_path):
    path = write(tmp_path / "models.json", [hub_record()])
    with pytest.raises(CommandError, match="no snapshot time"):
        run(path)


def test_it_refuses_one_taken_at_for_many_files(tmp_path):
    a = write(tmp_path / "a.json", [hub_record()])
    b = write(tmp_path / "b.json", [hub_record("x/y")])
    with pytest.raises(CommandError, match="one at a time"):
        run(a, b, "--taken-at", "2026-01-01T00:00Z")


def test_it_reports_a_missing_path(tmp_path):
    with pytest.raises(CommandError, match="nope"):
        run(tmp_path / "nope.json")


def test_it_imports_the_archived_hub_data_once(hub_trending):
    files = sorted(hub_trending.glob("*.json"))
    out = run(*files)
    assert f"Imported {len(files)} snapshot(s)" in out
    assert Snapshot.objects.filter(status=Snapshot.Status.COMPLETE).count() == len(files) == 256
    first = json.loads(files[0].read_text())
    snap = Snapshot.objects.get(source_name=files[0].name)
    assert snap.taken_at.isoformat().replace("+00:00", "Z") == first["fetched_at"]
    assert snap.models_seen == len({m["id"] for m in first["models"]})
    observed = Observation.objects.get(snapshot=snap, model__hub_id=first["models"][0]["id"])
    assert observed.downloads == first["models"][0]["downloads"]
    count = Observation.objects.count()
    again = run(hub_trending)
    assert "Imported 0 snapshot(s)" in again and f"{len(files)} already imported" in again
    assert Snapshot.objects.count() == 256 and Observation.objects.count() == count


ODD_RECORDS = {
    "over-long library_name": (hub_record("a/odd", library_name="l" * 80), "library_name"),
    "NUL": (hub_record("a/odd", tags=["transformers", "bad\x00tag"]), "NUL"),
    "lone surrogate": (hub_record("a/odd", author="a\ud800b"), "lone surrogate"),
    "overflowing date": (hub_record("a/odd", lastModified="9999-12-31T22:00:00-04:00"), "overflow"),
    "2**64 likes": (hub_record("a/odd", likes=2**64), "64-bit"),
}


@pytest.mark.parametrize("case", sorted(ODD_RECORDS))
def test_it_names_an_odd_record_and_imports_nothing(case, tmp_path):
    record, words = ODD_RECORDS[case]
    good = write(tmp_path / "2026-03-01T0000Z.json", [hub_record("a/good")])
    odd = write(tmp_path / "2026-03-02T0000Z.json", [hub_record("a/fine"), record])
    with pytest.raises(CommandError) as excinfo:
        run(good, odd)
    message = str(excinfo.value)
    assert excinfo.value.returncode == 1
    assert "2026-03-02T0000Z.json" in message and "record 1" in message and "a/odd" in message
    assert words in message and "nothing was written" in message
    assert not Snapshot.objects.exists() and not HubModel.objects.exists()


def test_it_shows_no_traceback_for_an_odd_record(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO
    from tests.snapshots.test_refresh_killed import database_url

    odd = write(tmp_path / "2026-03-02T0000Z.json", [hub_record("a/odd", likes=2**64)])
    env = {**__import__("os").environ, "DATABASE_URL": database_url()}
    done = subprocess.run(
        [sys.executable, "manage.py", "import_snapshots", odd, "--no-progress"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "2026-03-02T0000Z.json" in done.stderr and "a/odd" in done.stderr


def test_a_folder_import_is_all_or_nothing_when_a_later_file_fails_to_write(tmp_path, monkeypatch):
    from django.db import DataError

    from snapshots.management.commands import import_snapshots

    write(tmp_path / "2026-03-01T0000Z.json", [hub_record("a/first")])
    write(tmp_path / "2026-03-02T0000Z.json", [hub_record("a/second")])
    real = import_snapshots.snapshot_import

    def failing_on_the_second(*, archive, **kwargs):
        if archive.path.name.startswith("2026-03-02"):
            raise DataError("value too long for type character varying(64)")
        return real(archive=archive, **kwargs)

    monkeypatch.setattr(import_snapshots, "snapshot_import", failing_on_the_second)
    with pytest.raises(CommandError) as excinfo:
        run(tmp_path)
    message = str(excinfo.value)
    assert excinfo.value.returncode == 1
    assert "2026-03-02T0000Z.json" in message and "could not be written" in message
    assert "nothing was written" in message and "1 file(s) imported before it" in message
    assert not Snapshot.objects.exists() and not HubModel.objects.exists()

    monkeypatch.setattr(import_snapshots, "snapshot_import", real)
    assert "Imported 2 snapshot(s) with 2 observations" in run(tmp_path)
