import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from registry.records import HubRecord, RecordError, parse_hub_datetime, parse_hub_record


def full_record(**overrides):
    record = {
        "_id": "66a0c0ffee",
        "id": "NousResearch/Hermes-3-Llama-3.1-8B",
        "author": "NousResearch",
        "downloads": 123456,
        "downloadsAllTime": 4567890,
        "likes": 321,
        "trendingScore": 12,
        "lastModified": "2026-02-27T09:48:22.000Z",
        "createdAt": "2024-07-29T03:28:54.000Z",
        "sha": "896ea440e5a9e6070e3d8a2774daf2b481ab425b",
        "pipeline_tag": "text-generation",
        "library_name": "transformers",
        "private": False,
        "gated": False,
        "tags": [
            "transformers",
            "safetensors",
            "llama",
            "base_model:meta-llama/Llama-3.1-8B",
            "base_model:finetune:meta-llama/Llama-3.1-8B",
            "license:llama3",
            "arxiv:2408.11857",
            "region:us",
        ],
        "cardData": {"license": "llama3.1", "base_model": "meta-llama/Llama-3.1-8B"},
        "safetensors": {"parameters": {"BF16": 8030261248}, "total": 8030261248},
    }
    record.update(overrides)
    return record


def test_it_parses_every_field_of_a_full_record():
    record = parse_hub_record(full_record())

    assert record == HubRecord(
        hub_id="NousResearch/Hermes-3-Llama-3.1-8B",
        author="NousResearch",
        downloads=123456,
        downloads_all_time=4567890,
        likes=321,
        trending_score=12.0,
        last_modified=datetime(2026, 2, 27, 9, 48, 22, tzinfo=UTC),
        created_at=datetime(2024, 7, 29, 3, 28, 54, tzinfo=UTC),
        sha="896ea440e5a9e6070e3d8a2774daf2b481ab425b",
        pipeline_tag="text-generation",
        library_name="transformers",
        hub_tags=(
            "transformers",
            "safetensors",
            "llama",
            "base_model:meta-llama/Llama-3.1-8B",
            "base_model:finetune:meta-llama/Llama-3.1-8B",
            "license:llama3",
            "arxiv:2408.11857",
            "region:us",
        ),
        license="llama3.1",
        parameters=8030261248,
        base_models=(("finetune", "meta-llama/Llama-3.1-8B"),),
        private=False,
        gated="",
        has_detail=True,
    )


def test_it_accepts_a_record_with_only_an_id():
    record = parse_hub_record({"id": "gpt2"})

    assert record.hub_id == "gpt2"
    assert record.author == ""
    assert (record.downloads, record.downloads_all_time, record.likes) == (None, None, None)
    assert record.trending_score is None
    assert record.last_modified is None and record.created_at is None
    assert (record.sha, record.pipeline_tag, record.library_name, record.license) == ("",) * 4
    assert record.hub_tags == () and record.base_models == ()
    assert record.parameters is None
    assert record.private is False and record.gated == ""
    assert record.has_detail is False


def test_it_treats_nulls_as_missing():
    raw = {key: None for key in full_record()}
    raw["id"] = "org/model"

    record = parse_hub_record(raw)

    assert record.author == "org"
    assert record.downloads is None and record.likes is None
    assert record.hub_tags == () and record.license == "" and record.parameters is None
    assert record.private is False and record.gated == ""
    assert record.has_detail is True  # cardData was asked for, even if the card is empty


def test_it_takes_the_author_from_the_id_when_missing():
    assert parse_hub_record({"id": "Qwen/Qwen3-8B"}).author == "Qwen"
    assert parse_hub_record({"id": "Qwen/Qwen3-8B", "author": ""}).author == "Qwen"
    assert parse_hub_record({"id": "Qwen/Qwen3-8B", "author": "someone"}).author == "someone"


def test_it_parses_the_trending_archive_record_shape():
    raw = {
        "author": "Qwen",
        "downloads": 587006,
        "gated": "auto",
        "id": "Qwen/Qwen3.5-35B-A3B",
        "lastModified": "2026-02-27T09:48:22.000Z",
        "likes": 784,
        "numParameters": 35951822704,
        "pipeline_tag": "image-text-to-text",
        "private": False,
        "repoType": "model",
    }

    record = parse_hub_record(raw)

    assert record.parameters == 35951822704
    assert record.gated == "auto"
    assert record.has_detail is False


def test_it_prefers_safetensors_then_gguf_then_num_parameters():
    assert parse_hub_record(full_record(numParameters=7)).parameters == 8030261248
    gguf = full_record(safetensors=None, gguf={"total": 8030261248, "architecture": "llama"})
    assert parse_hub_record(gguf).parameters == 8030261248
    assert parse_hub_record(full_record(safetensors={}, numParameters=7)).parameters == 7


def test_it_reads_the_license_from_the_card_then_the_tags():
    assert parse_hub_record(full_record()).license == "llama3.1"
    no_card = full_record(cardData=None)
    assert parse_hub_record(no_card).license == "llama3"
    card_list = full_record(cardData={"license": ["Apache-2.0", "mit"]})
    assert parse_hub_record(card_list).license == "apache-2.0"
    odd_card = full_record(cardData={"license": 42})
    assert parse_hub_record(odd_card).license == "llama3"


def test_it_uses_the_license_name_of_other_licenses():
    raw = full_record(cardData={"license": "other", "license_name": "Qwen"}, tags=["license:other"])

    assert parse_hub_record(raw).license == "qwen"
    plain_other = full_record(cardData={"license": "other"}, tags=["license:other"])
    assert parse_hub_record(plain_other).license == "other"


def test_it_collects_base_models_with_relations_and_drops_duplicates():
    raw = full_record(
        tags=[
            "base_model:org/a",
            "base_model:finetune:org/a",
            "base_model:merge:org/b",
            "base_model:merge:org/c",
            "base_model:merge:org/b",
            "base_model:org/d",
        ],
        cardData={"base_model": ["org/a", "org/e", " ", 5]},
    )

    assert parse_hub_record(raw).base_models == (
        ("finetune", "org/a"),
        ("merge", "org/b"),
        ("merge", "org/c"),
        ("", "org/d"),
        ("", "org/e"),
    )


def test_it_takes_base_models_from_the_card_alone():
    raw = {"id": "x/y", "cardData": {"base_model": "org/base"}}

    assert parse_hub_record(raw).base_models == (("", "org/base"),)


def test_it_takes_base_models_from_the_expanded_field():
    raw = {
        "id": "x/y",
        "baseModels": {"relation": "quantized", "models": [{"id": "org/base"}]},
        "tags": ["base_model:org/base"],
    }

    assert parse_hub_record(raw).base_models == (("quantized", "org/base"),)


@pytest.mark.parametrize(
    ("gated", "expected"),
    [(False, ""), (None, ""), ("auto", "auto"), ("manual", "manual"), ("MANUAL", "manual")],
)
def test_it_normalizes_gated(gated, expected):
    assert parse_hub_record({"id": "a/b", "gated": gated}).gated == expected


def test_it_accepts_integral_floats_as_counts():
    record = parse_hub_record({"id": "a/b", "downloads": 12.0, "likes": 0.0})

    assert record.downloads == 12 and type(record.downloads) is int
    assert record.likes == 0


def test_it_keeps_counts_up_to_64_bits_exactly():
    record = parse_hub_record(
        {"id": "a/b", "likes": 3_000_000_000, "downloads": 9e15, "downloadsAllTime": 2**63 - 1}
    )

    assert record.likes == 3_000_000_000
    assert record.downloads == 9_000_000_000_000_000 and type(record.downloads) is int
    assert record.downloads_all_time == 2**63 - 1


@pytest.mark.parametrize("value", [2**63, 2**64 + 5, 1e19, float("inf")])
def test_it_refuses_counts_beyond_64_bits_naming_the_record(value):
    with pytest.raises(RecordError) as caught:
        parse_hub_record({"id": "org/huge", "likes": value})

    assert caught.value.field == "likes"
    assert caught.value.hub_id == "org/huge"
    assert str(caught.value).startswith("'likes' is beyond a 64-bit count")


def test_it_keeps_fractional_trending_scores():
    assert parse_hub_record({"id": "a/b", "trendingScore": 3.5}).trending_score == 3.5


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("downloads", "abc", "'downloads' must be a non-negative integer, got 'abc'"),
        ("downloads", -1, "'downloads' must be a non-negative integer, got -1"),
        ("downloads", True, "'downloads' must be a non-negative integer, got True"),
        ("downloads", 1.5, "'downloads' must be a non-negative integer, got 1.5"),
        ("downloadsAllTime", [], "'downloadsAllTime' must be a non-negative integer, got []"),
        ("likes", -3, "'likes' must be a non-negative integer, got -3"),
        ("numParameters", "8B", "'numParameters' must be a non-negative integer, got '8B'"),
        ("trendingScore", "hot", "'trendingScore' must be a finite number, got 'hot'"),
        ("trendingScore", float("nan"), "'trendingScore' must be a finite number, got nan"),
        ("lastModified", "yesterday", "'lastModified' must be an ISO-8601 timestamp"),
        ("createdAt", 1700000000, "'createdAt' must be an ISO-8601 timestamp, got 1700000000"),
        ("sha", 123, "'sha' must be a string, got 123"),
        ("author", ["x"], "'author' must be a string, got ['x']"),
        ("pipeline_tag", {}, "'pipeline_tag' must be a string, got {}"),
        ("tags", "llama", "'tags' must be a list of strings, got 'llama'"),
        ("tags", ["ok", 3], "'tags' must be a list of strings, got item 3"),
        ("private", "no", "'private' must be a boolean, got 'no'"),
        ("gated", 1, "'gated' must be false, 'auto' or 'manual', got 1"),
        ("cardData", "license: mit", "'cardData' must be an object"),
        ("safetensors", [], "'safetensors' must be an object, got []"),
    ],
)
def test_it_rejects_fields_of_the_wrong_type(field, value, message):
    with pytest.raises(RecordError) as caught:
        parse_hub_record({"id": "org/model", field: value})

    assert str(caught.value).startswith(message)
    assert caught.value.field == field
    assert caught.value.hub_id == "org/model"


def test_it_names_nested_fields():
    with pytest.raises(RecordError) as caught:
        parse_hub_record({"id": "a/b", "safetensors": {"total": -2}})

    assert caught.value.field == "safetensors.total"
    assert str(caught.value) == "'safetensors.total' must be a non-negative integer, got -2"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"author": "x"}, "'id' is missing"),
        ({"id": None}, "'id' is missing"),
        ({"id": 42}, "'id' must be a string, got 42"),
        ({"id": ""}, "'id' must not be empty"),
        ({"id": "org/with space"}, "'id' must not contain whitespace, got 'org/with space'"),
        ({"id": " org/x"}, "'id' must not contain whitespace"),
        ({"id": "o/" + "x" * 199}, "'id' must be at most 200 characters"),
    ],
)
def test_it_rejects_bad_ids(raw, message):
    with pytest.raises(RecordError) as caught:
        parse_hub_record(raw)

    assert str(caught.value).startswith(message)
    assert caught.value.field == "id"


@pytest.mark.parametrize("raw", [None, [], "org/model", 3])
def test_it_rejects_records_that_are_not_objects(raw):
    with pytest.raises(RecordError, match="a record must be a JSON object"):
        parse_hub_record(raw)


def test_it_accepts_an_id_of_exactly_200_characters():
    hub_id = "o/" + "x" * 198

    assert parse_hub_record({"id": hub_id}).hub_id == hub_id


def test_it_parses_hub_timestamps_to_aware_utc():
    assert parse_hub_datetime("2026-02-27T09:48:22.000Z") == datetime(
        2026, 2, 27, 9, 48, 22, tzinfo=UTC
    )
    assert parse_hub_datetime("2026-02-27T09:48:22Z").tzinfo is UTC
    assert parse_hub_datetime("2026-02-27T11:48:22+02:00") == datetime(
        2026, 2, 27, 9, 48, 22, tzinfo=UTC
    )
    assert parse_hub_datetime("2026-02-27T11:48:22+02:00").utcoffset() == timedelta(0)
    assert parse_hub_datetime("2026-02-27T09:48:22") == datetime(2026, 2, 27, 9, 48, 22, tzinfo=UTC)
    assert parse_hub_datetime(None) is None
    assert parse_hub_datetime("") is None


def test_it_passes_datetimes_through_as_utc():
    moment = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))

    assert parse_hub_datetime(moment) == datetime(2026, 1, 1, 17, tzinfo=UTC)


def test_it_raises_a_value_error_for_bad_timestamps():
    with pytest.raises(ValueError, match="'when' must be an ISO-8601 timestamp, got '2026-13-01'"):
        parse_hub_datetime("2026-13-01", field="when")


def test_it_makes_records_immutable():
    record = parse_hub_record({"id": "a/b"})

    with pytest.raises(AttributeError):
        record.likes = 3


def test_the_text_limits_are_the_catalogs_column_sizes():
    from registry.models import HubModel
    from registry.records import TEXT_LIMITS

    assert {name: HubModel._meta.get_field(name).max_length for name in TEXT_LIMITS} == TEXT_LIMITS


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"library_name": "l" * 65}, "library_name", "too_long"),
        ({"author": "a" * 101}, "author", "too_long"),
        ({"tags": ["license:" + "x" * 65]}, "license", "too_long"),
        ({"gated": "g" * 17}, "gated", "too_long"),
        ({"sha": "s\x00"}, "sha", "nul_character"),
        ({"tags": ["ok", "a\x00b"]}, "tags", "nul_character"),
        ({"tags": ["base_model:finetune:x/\x00"]}, "tags", "nul_character"),
        ({"pipeline_tag": "\udc80"}, "pipeline_tag", "lone_surrogate"),
        ({"tags": ["\ud83d"]}, "tags", "lone_surrogate"),
        ({"createdAt": "9999-12-31T23:59:59-00:01"}, "createdAt", "date_overflow"),
        ({"lastModified": "0001-01-01T00:00:00+01:00"}, "lastModified", "date_overflow"),
        ({"likes": 2**64}, "likes", "beyond_64_bits"),
        ({"downloads": "many"}, "downloads", "invalid"),
    ],
)
def test_it_refuses_what_the_database_cannot_store_with_its_reason(fields, field, reason):
    with pytest.raises(RecordError) as excinfo:
        parse_hub_record({"id": "org/odd", **fields})
    assert (excinfo.value.field, excinfo.value.reason, excinfo.value.hub_id) == (
        field,
        reason,
        "org/odd",
    )


def test_it_keeps_unicode_text_and_reads_an_over_long_card_license_leniently():
    record = parse_hub_record(
        {
            "id": "org/ünï",
            "author": "日本",
            "tags": ["license:mit", "😀"],
            "cardData": {"license": "see the file LICENSE in this repository for the terms " * 2},
        }
    )
    assert (record.author, record.license, record.hub_tags[-1]) == ("日本", "mit", "😀")


def test_repeated_short_strings_are_one_object_across_records():
    # A million records are held at once by an import: the strings they
    # repeat are interned, equal values unchanged. Decoded apart, as from a file.
    text = '{"id": "a/%s", "author": "orga", "tags": ["text-generation"], "pipeline_tag": "t2"}'
    first = parse_hub_record(json.loads(text % "x"))
    second = parse_hub_record(json.loads(text % "y"))
    assert first.hub_tags == ("text-generation",)
    assert first.hub_tags[0] is second.hub_tags[0]
    assert first.author == "orga"
    assert first.author is second.author
    assert first.pipeline_tag is second.pipeline_tag
