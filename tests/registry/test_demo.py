import re
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from registry.demo import generate_demo_hub
from registry.dimensions import license_class, param_class
from registry.records import parse_hub_datetime, parse_hub_record

END = datetime(2026, 3, 31, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def hub():
    return generate_demo_hub(seed=42, end=END)


@pytest.fixture(scope="module")
def daily_records(hub):
    """Per day, the records by id."""
    return [{r["id"]: r for r in hub.records_at(day)} for day in range(len(hub.days))]


def test_it_lays_out_daily_timestamps_ending_at_end(hub):
    assert len(hub.days) == 35
    assert hub.days[-1] == END
    assert hub.days[0] == END - timedelta(days=34)
    assert all(b - a == timedelta(days=1) for a, b in zip(hub.days, hub.days[1:], strict=False))


def test_it_ends_now_floored_to_the_hour_by_default():
    before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    small = generate_demo_hub(models=5, days=2)

    assert small.days[-1] in (before, before + timedelta(hours=1))
    assert small.days[-1].tzinfo is not None


def test_it_is_deterministic_for_a_seed():
    first = generate_demo_hub(seed=7, models=300, days=8, end=END)
    second = generate_demo_hub(seed=7, models=300, days=8, end=END)
    other = generate_demo_hub(seed=8, models=300, days=8, end=END)

    for day in (0, 4, 7):
        assert first.records_at(day) == second.records_at(day)
    assert first.spikes == second.spikes
    assert first.records_at(7) != other.records_at(7)


def test_it_has_all_models_on_the_last_day_and_fewer_before(hub, daily_records):
    counts = [len(day) for day in daily_records]

    assert counts[-1] == 3000
    assert counts[0] < counts[-1]
    assert counts == sorted(counts)  # models appear; none disappear


def test_it_gives_records_the_hub_would_give(hub, daily_records):
    last = daily_records[-1]
    sample = last["meta-llama/Llama-3.1-8B-Instruct"]

    assert sample["author"] == "meta-llama"
    assert sample["gated"] == "manual"
    assert sample["cardData"]["license"] == "llama3.1"
    assert sample["safetensors"]["total"] == 8030261248
    assert "license:llama3.1" in sample["tags"]
    assert "base_model:finetune:meta-llama/Llama-3.1-8B" in sample["tags"]
    assert re.fullmatch(r"[0-9a-f]{40}", sample["sha"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", sample["lastModified"])
    records = [parse_hub_record(raw) for raw in last.values()]
    assert all(record.private is False for record in records)
    assert sum(record.has_detail for record in records) > 0.95 * len(records)


def test_it_returns_fresh_records_on_every_call(hub):
    first = hub.records_at(-1)
    first[0]["tags"].append("mutated")
    first[0]["likes"] = -1

    again = hub.records_at(-1)

    assert "mutated" not in again[0]["tags"]
    assert again[0]["likes"] >= 0


def test_it_rejects_days_out_of_range(hub):
    with pytest.raises(IndexError):
        hub.records_at(35)
    assert hub.records_at(-35) == hub.records_at(0)


def test_it_has_heavy_tailed_downloads_and_likes(daily_records):
    records = list(daily_records[-1].values())
    downloads = sorted((r["downloads"] for r in records), reverse=True)
    likes = sorted((r["likes"] for r in records), reverse=True)
    top = len(records) // 100

    assert sum(downloads[:top]) > 0.4 * sum(downloads)
    assert sum(likes[:top]) > 0.2 * sum(likes)
    assert statistics.mean(downloads) > 20 * statistics.median(downloads)
    assert downloads[0] > 1_000_000 * 30
    assert sum(1 for d in downloads if d == 0) > 0


def test_it_mixes_providers_and_community_authors(daily_records):
    authors = {r["author"] for r in daily_records[-1].values()}

    for org in ("meta-llama", "Qwen", "mistralai", "google", "microsoft", "deepseek-ai"):
        assert org in authors
    for org in ("stabilityai", "openai", "sentence-transformers", "BAAI", "nvidia"):
        assert org in authors
    for org in ("TheBloke", "unsloth", "bartowski", "NousResearch", "black-forest-labs"):
        assert org in authors
    assert len(authors) > 200


def test_it_links_families_to_models_that_exist_that_day(daily_records):
    relations = set()
    for records in daily_records:
        for raw in records.values():
            record = parse_hub_record(raw)
            for relation, base_id in record.base_models:
                relations.add(relation)
                assert base_id in records, f"{record.hub_id} -> {base_id}"
                assert record.created_at >= parse_hub_datetime(records[base_id]["createdAt"])
    assert relations == {"finetune", "quantized", "adapter", "merge"}


def test_it_gives_merges_two_bases_in_card_and_tags(daily_records):
    merges = [
        parse_hub_record(raw)
        for raw in daily_records[-1].values()
        if any(tag.startswith("base_model:merge:") for tag in raw["tags"])
    ]

    assert len(merges) > 20
    for merge in merges:
        assert [relation for relation, _ in merge.base_models] == ["merge", "merge"]


def test_it_keeps_rolling_downloads_consistent_with_all_time(hub, daily_records):
    checked = 0
    for day in range(30, len(hub.days)):
        earlier = daily_records[day - 30]
        for hub_id, raw in daily_records[day].items():
            if hub_id in earlier:
                old = earlier[hub_id]["downloadsAllTime"]
                assert raw["downloads"] == raw["downloadsAllTime"] - old, hub_id
                checked += 1
    assert checked > 10_000


def test_it_counts_all_downloads_of_models_younger_than_thirty_days(hub, daily_records):
    young = 0
    for raw in daily_records[-1].values():
        if parse_hub_datetime(raw["createdAt"]) > hub.days[-1] - timedelta(days=29):
            assert raw["downloads"] == raw["downloadsAllTime"]
            young += 1
    assert young > 100


def test_it_never_lowers_all_time_downloads_and_mostly_raises_likes(hub, daily_records):
    drops = rises = 0
    for day in range(1, len(hub.days)):
        before = daily_records[day - 1]
        for hub_id, raw in daily_records[day].items():
            if hub_id not in before:
                continue
            assert raw["downloadsAllTime"] >= before[hub_id]["downloadsAllTime"]
            change = raw["likes"] - before[hub_id]["likes"]
            drops += change < 0
            rises += change > 0
    assert rises > 10 * drops > 0


def test_it_makes_daily_downloads_drift(hub, daily_records):
    name = "sentence-transformers/all-MiniLM-L6-v2"
    totals = [records[name]["downloadsAllTime"] for records in daily_records]
    daily = [b - a for a, b in zip(totals, totals[1:], strict=False)]

    assert len(set(daily)) == len(daily)
    assert min(daily) < 0.9 * max(daily)


def test_it_injects_spikes_visible_in_the_daily_series(hub, daily_records):
    assert len(hub.spikes) == 5
    for hub_id, day in hub.spikes:
        totals = [records[hub_id]["downloadsAllTime"] for records in daily_records]
        daily = [b - a for a, b in zip(totals, totals[1:], strict=False)]  # daily[d - 1] is day d
        usual = statistics.median(daily[day - 3 : day - 1])
        assert daily[day - 1] > 2.5 * usual, (hub_id, day)
        assert daily_records[day][hub_id]["downloads"] > daily_records[day - 1][hub_id]["downloads"]


def test_it_updates_sha_and_last_modified_together(hub, daily_records):
    updates = 0
    for day in range(1, len(hub.days)):
        for hub_id, raw in daily_records[day].items():
            before = daily_records[day - 1].get(hub_id)
            modified = parse_hub_datetime(raw["lastModified"])
            assert parse_hub_datetime(raw["createdAt"]) <= modified <= hub.days[day]
            if before is None:
                continue
            if raw["sha"] != before["sha"]:
                updates += 1
                assert modified > parse_hub_datetime(before["lastModified"])
                assert modified > hub.days[day - 1]
            else:
                assert raw["lastModified"] == before["lastModified"]
    assert 100 < updates < 3000


def test_it_spreads_licenses_across_classes(daily_records):
    records = [parse_hub_record(raw) for raw in daily_records[-1].values()]
    licenses = {record.license for record in records}
    classes = {license_class(record.license) for record in records}

    for license in ("apache-2.0", "mit", "llama3.1", "gemma", "cc-by-nc-4.0", "gpl-3.0", "other"):
        assert license in licenses
    assert "" in licenses  # some models state no license
    assert classes == {"permissive", "copyleft", "open-weights", "non-commercial", "unknown"}


def test_it_matches_parameter_counts_to_names(daily_records):
    size = re.compile(r"-(\d+(?:\.\d+)?)B(?:-|$)", re.IGNORECASE)
    checked = 0
    for raw in daily_records[-1].values():
        name = raw["id"].split("/", 1)[1]
        match = size.search(name)
        if not match or raw.get("library_name") == "peft" or re.search(r"-\d+E-", name, re.I):
            continue  # adapters count their own weights; mixtures of experts count all experts
        parameters = parse_hub_record(raw).parameters
        if parameters is None:
            continue
        assert 0.75 < parameters / (float(match[1]) * 1e9) < 1.35, raw["id"]
        checked += 1
    assert checked > 300
    classes = {param_class(parse_hub_record(raw).parameters) for raw in daily_records[-1].values()}
    assert classes == {"<1B", "1-3B", "3-8B", "8-15B", "15-40B", "40-100B", "100B+", "unknown"}


def test_it_varies_pipeline_tags_and_libraries(daily_records):
    records = list(daily_records[-1].values())
    pipelines = {r.get("pipeline_tag") for r in records}
    libraries = {r.get("library_name") for r in records}

    assert {"text-generation", "image-text-to-text", "text-to-image"} <= pipelines
    assert {"sentence-similarity", "automatic-speech-recognition"} <= pipelines
    assert None in pipelines
    assert {"transformers", "gguf", "peft", "diffusers", "sentence-transformers", "mlx"} <= (
        libraries
    )


def test_it_releases_models_during_the_window_that_get_followers(hub, daily_records):
    new = set(daily_records[-1]) - set(daily_records[0])
    followers = [
        hub_id
        for hub_id in new
        for relation, base_id in parse_hub_record(daily_records[-1][hub_id]).base_models
        if base_id == "Qwen/Qwen3.5-9B"
    ]

    assert "Qwen/Qwen3.5-9B" in new
    assert len(new) > 200
    assert len(followers) >= 3


@pytest.mark.parametrize(("models", "days"), [(1, 1), (25, 3), (150, 6)])
def test_it_builds_small_hubs(models, days):
    small = generate_demo_hub(models=models, days=days, end=END)

    assert len(small.days) == days
    last = small.records_at(-1)
    assert len(last) == models
    assert len({r["id"] for r in last}) == models
    for raw in last:
        parse_hub_record(raw)


def test_it_rejects_empty_hubs():
    with pytest.raises(ValueError, match="models"):
        generate_demo_hub(models=0)
    with pytest.raises(ValueError, match="days"):
        generate_demo_hub(days=0)
