import hashlib
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from registry.archive import (
    ArchiveError,
    iter_archive_paths,
    read_archive,
    taken_at_from_filename,
    validate_records,
)

SHARED_DATA = Path(
    os.environ.get(
        "MODELBOARD_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"
    )
)
HUB_TRENDING = SHARED_DATA / "hub-trending"

RECORDS = [
    {"id": "Qwen/Qwen3-8B", "author": "Qwen", "downloads": 10, "likes": 2},
    {"id": "org/other", "downloads": 3},
]


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_it_reads_a_bare_array(tmp_path):
    path = write(tmp_path, "snap.json", RECORDS)

    archive = read_archive(path)

    assert archive.format == "array"
    assert archive.records == RECORDS
    assert archive.taken_at is None
    assert archive.path == path
    assert archive.digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_records_of_a_big_file_stay_raw_json_until_read(tmp_path):
    # Array and object files are split into raw records, decoded one by one
    # as validation reads them: never a dict for every record at once.
    path = write(tmp_path, "snap.json", {"fetched_at": "2026-03-02T12:17:14Z", "models": RECORDS})
    archive = read_archive(path)
    assert type(archive.records).__name__ == "RawRecords"
    assert len(archive.records) == 2
    assert archive.records[1] == RECORDS[1]
    assert [r.hub_id for r in validate_records(archive)] == ["Qwen/Qwen3-8B", "org/other"]


def test_a_record_msgspec_refuses_is_decoded_as_json_decodes_it(tmp_path):
    # NaN and a lone surrogate: json takes them; the record parser then judges.
    path = write(
        tmp_path,
        "snap.json",
        '[{"id": "a/nan", "trendingScore": NaN}, {"id": "a/s", "author": "\\ud800x"}]',
    )
    archive = read_archive(path)
    assert archive.records[1] == {"id": "a/s", "author": "\ud800x"}
    with pytest.raises(ArchiveError, match="record 0.*'trendingScore' must be a finite number"):
        validate_records(archive)


def test_it_reads_an_object_with_fetched_at(tmp_path):
    path = write(
        tmp_path,
        "snap.json",
        {"fetched_at": "2026-03-02T12:17:14Z", "source": "x", "models": RECORDS},
    )

    archive = read_archive(str(path))

    assert archive.format == "object"
    assert archive.records == RECORDS
    assert archive.taken_at == datetime(2026, 3, 2, 12, 17, 14, tzinfo=UTC)


def test_it_uses_date_when_fetched_at_is_absent(tmp_path):
    path = write(tmp_path, "snap.json", {"date": "2026-03-02", "models": []})

    assert read_archive(path).taken_at == datetime(2026, 3, 2, tzinfo=UTC)


def test_it_prefers_fetched_at_over_date(tmp_path):
    path = write(
        tmp_path,
        "snap.json",
        {"date": "2026-01-01T00:00:00Z", "fetched_at": "2026-03-02T12:17:14Z", "models": []},
    )

    assert read_archive(path).taken_at == datetime(2026, 3, 2, 12, 17, 14, tzinfo=UTC)


def test_it_falls_back_to_date_when_fetched_at_is_null(tmp_path):
    path = write(tmp_path, "snap.json", {"fetched_at": None, "date": "2026-03-02", "models": []})

    assert read_archive(path).taken_at == datetime(2026, 3, 2, tzinfo=UTC)


def test_it_keeps_the_utc_offset_of_the_file(tmp_path):
    path = write(tmp_path, "snap.json", {"fetched_at": "2026-03-02T14:17:14+02:00", "models": []})

    taken_at = read_archive(path).taken_at

    assert taken_at.utcoffset() == timedelta(hours=2)
    assert taken_at == datetime(2026, 3, 2, 12, 17, 14, tzinfo=UTC)


def test_it_takes_naive_times_as_utc(tmp_path):
    path = write(tmp_path, "snap.json", {"fetched_at": "2026-03-02T12:17:14", "models": []})

    assert read_archive(path).taken_at == datetime(2026, 3, 2, 12, 17, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"fetched_at": "soon", "models": []}, "'fetched_at' must be an ISO-8601 timestamp"),
        ({"fetched_at": 1772453834, "models": []}, "'fetched_at' must be an ISO-8601 timestamp"),
        ({"date": "2026-02-30", "models": []}, "'date' must be an ISO-8601 timestamp"),
        ({"fetched_at": "2026-03-02T12:00:00Z", "models": {}}, "'models' must be a JSON array"),
        ({"fetched_at": "2026-03-02T12:00:00Z"}, "top-level object has no 'models' list"),
    ],
)
def test_it_rejects_bad_objects(tmp_path, document, message):
    path = write(tmp_path, "snap.json", document)

    with pytest.raises(ArchiveError) as caught:
        read_archive(path)

    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert caught.value.path == path


@pytest.mark.parametrize("document", ["42", '"models"', "null"])
def test_it_rejects_other_top_levels(tmp_path, document):
    path = write(tmp_path, "snap.json", document)

    with pytest.raises(ArchiveError, match="top level must be an array of records or an object"):
        read_archive(path)


def test_it_names_the_record_that_is_not_an_object(tmp_path):
    path = write(tmp_path, "snap.json", {"models": [RECORDS[0], RECORDS[1], "org/x"]})

    with pytest.raises(ArchiveError) as caught:
        read_archive(path)

    assert caught.value.record_index == 2
    assert str(caught.value) == f"{path} (record 2): a record must be a JSON object, got str"


def test_it_reports_invalid_json_with_line_and_column(tmp_path):
    path = write(tmp_path, "snap.json", '[\n  {"id": "a/b"},\n  {"id": }\n]')

    with pytest.raises(ArchiveError) as caught:
        read_archive(path)

    assert caught.value.line == 3
    assert "invalid JSON at line 3 column 10" in str(caught.value)


def test_it_rejects_empty_and_unreadable_files(tmp_path):
    with pytest.raises(ArchiveError, match="file is empty"):
        read_archive(write(tmp_path, "empty.json", "  \n"))
    with pytest.raises(ArchiveError, match="cannot read file"):
        read_archive(tmp_path / "missing.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe[]")
    with pytest.raises(ArchiveError, match="not UTF-8"):
        read_archive(binary)


def test_it_reads_json_lines_and_skips_blank_lines(tmp_path):
    content = json.dumps(RECORDS[0]) + "\n\n" + json.dumps(RECORDS[1]) + "\n   \n"
    path = write(tmp_path, "snap.jsonl", content)

    archive = read_archive(path)

    assert archive.format == "jsonl"
    assert archive.records == RECORDS
    assert archive.lines == [1, 3]
    assert archive.taken_at is None


def test_it_sniffs_json_lines_in_a_json_file(tmp_path):
    content = "\n".join(json.dumps(record) for record in RECORDS)
    path = write(tmp_path, "snap.json", content)

    archive = read_archive(path)

    assert archive.format == "jsonl"
    assert archive.records == RECORDS


def test_it_reads_a_one_line_json_lines_file_named_json(tmp_path):
    path = write(tmp_path, "snap.json", json.dumps(RECORDS[0]) + "\n")

    archive = read_archive(path)

    assert archive.format == "jsonl"
    assert archive.records == [RECORDS[0]]


def test_it_gives_the_line_of_invalid_json_lines(tmp_path):
    lines = [json.dumps(RECORDS[0]), "", json.dumps(RECORDS[1]), '{"id": "a/b",']
    path = write(tmp_path, "snap.jsonl", "\n".join(lines))

    with pytest.raises(ArchiveError) as caught:
        read_archive(path)

    assert caught.value.line == 4
    assert str(caught.value).startswith(f"{path} (line 4): invalid JSON at column")


def test_it_gives_the_line_of_a_json_lines_record_that_is_not_an_object(tmp_path):
    path = write(tmp_path, "snap.jsonl", json.dumps(RECORDS[0]) + "\n\n[1, 2]\n")

    with pytest.raises(ArchiveError) as caught:
        read_archive(path)

    assert (caught.value.line, caught.value.record_index) == (3, 1)
    assert (
        str(caught.value) == f"{path} (line 3, record 1): a record must be a JSON object, got list"
    )


def test_it_validates_records_into_hub_records(tmp_path):
    archive = read_archive(write(tmp_path, "snap.json", RECORDS))

    records = validate_records(archive)

    assert [record.hub_id for record in records] == ["Qwen/Qwen3-8B", "org/other"]
    assert records[1].author == "org"
    assert records[1].downloads == 3


def test_it_names_file_record_and_id_of_a_bad_record(tmp_path):
    bad = {"id": "org/bad", "downloads": "abc"}
    path = write(tmp_path, "snap.json", {"models": [RECORDS[0], bad]})

    with pytest.raises(ArchiveError) as caught:
        validate_records(read_archive(path))

    error = caught.value
    assert (error.record_index, error.line, error.hub_id) == (1, None, "org/bad")
    assert str(error) == (
        f"{path} (record 1, id 'org/bad'): 'downloads' must be a non-negative integer, got 'abc'"
    )


def test_it_names_the_line_of_a_bad_json_lines_record(tmp_path):
    lines = [json.dumps(RECORDS[0]), "", "", json.dumps({"downloads": 5})]
    path = write(tmp_path, "snap.jsonl", "\n".join(lines))

    with pytest.raises(ArchiveError) as caught:
        validate_records(read_archive(path))

    assert (caught.value.line, caught.value.record_index) == (4, 1)
    assert str(caught.value) == f"{path} (line 4, record 1): 'id' is missing"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2026-03-02T1217Z.json", datetime(2026, 3, 2, 12, 17, tzinfo=UTC)),
        ("2026-03-02T12:17:14Z.json", datetime(2026, 3, 2, 12, 17, 14, tzinfo=UTC)),
        ("2026-03-02T121714Z", datetime(2026, 3, 2, 12, 17, 14, tzinfo=UTC)),
        ("20260302T121714Z.jsonl", datetime(2026, 3, 2, 12, 17, 14, tzinfo=UTC)),
        ("2026-03-02_1217.json", datetime(2026, 3, 2, 12, 17, tzinfo=UTC)),
        ("snapshot-2026-03-02.json", datetime(2026, 3, 2, tzinfo=UTC)),
        ("hub-20260302.json", datetime(2026, 3, 2, tzinfo=UTC)),
        ("/data/archive/2026-03-02T1217Z.json", datetime(2026, 3, 2, 12, 17, tzinfo=UTC)),
        ("v2-2026-13-40-then-2026-03-02.json", datetime(2026, 3, 2, tzinfo=UTC)),
    ],
)
def test_it_finds_timestamps_in_file_names(name, expected):
    found = taken_at_from_filename(name)

    assert found == expected
    assert found.utcoffset() == timedelta(0)


def test_it_keeps_an_offset_in_a_file_name():
    found = taken_at_from_filename("2026-03-02T14:17:14+02:00.json")

    assert found == datetime(2026, 3, 2, 12, 17, 14, tzinfo=UTC)
    assert found.tzinfo == timezone(timedelta(hours=2))
    assert taken_at_from_filename("2026-03-02T0717-0500.json").utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize("name", ["snapshot.json", "models-1234.json", "2026-13-45.json", ""])
def test_it_finds_no_timestamp_where_there_is_none(name):
    assert taken_at_from_filename(name) is None


def test_it_expands_directories_to_sorted_archive_files(tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in ("b.json", "a.jsonl", "c.txt", "README.md"):
        (folder / name).write_text("[]")
    (folder / "nested.json").mkdir()
    single = write(tmp_path, "single.json", [])

    paths = iter_archive_paths([single, str(folder), folder / "b.json"])

    assert paths == [single, folder / "a.jsonl", folder / "b.json"]


def test_it_rejects_missing_paths(tmp_path):
    with pytest.raises(ArchiveError) as caught:
        iter_archive_paths([tmp_path / "nope"])

    assert caught.value.path == tmp_path / "nope"
    assert "no such file or directory" in str(caught.value)


def test_it_reads_and_validates_every_real_archive():
    if not HUB_TRENDING.is_dir():
        pytest.skip(f"{HUB_TRENDING} is not here")

    paths = iter_archive_paths([HUB_TRENDING])
    archives = [read_archive(path) for path in paths]
    records = [validate_records(archive) for archive in archives]

    assert len(paths) == 256
    assert all(archive.format == "object" for archive in archives)
    assert sum(len(batch) for batch in records) == 2560
    assert all(len(batch) == 10 for batch in records)
    for path, archive in zip(paths, archives, strict=True):
        # Each file's own fetched_at agrees with its name to the minute.
        from_name = taken_at_from_filename(path.name)
        assert abs(archive.taken_at - from_name) < timedelta(minutes=1)
    first = records[0][0]
    assert first.hub_id == "Qwen/Qwen3.5-35B-A3B"
    assert first.parameters == 35951822704
    assert first.last_modified == datetime(2026, 2, 27, 9, 48, 22, tzinfo=UTC)
    assert {record.gated for batch in records for record in batch} == {"", "auto"}
