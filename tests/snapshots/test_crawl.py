"""The daily crawl: every model, checkpointed, resumable, published atomically as a day."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from registry.hub import HubClient
from registry.models import HubModel
from snapshots import selectors
from snapshots.crawl import crawl_facts, crawl_run
from snapshots.models import Crawl, CrawlPage, DailyObservation, Observation, Snapshot
from tests.factories import hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db


class Clock:
    """The replay hub's clock, moved on by the client's sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def client_for(hub, **kwargs) -> HubClient:
    kwargs.setdefault("sleep", lambda s: None)
    return HubClient(endpoint=hub.url, backoff_base=0.01, **kwargs)


@pytest.fixture
def crawl_settings(hub_settings):
    hub_settings.CRAWL_PAGE_SIZE = 10
    hub_settings.CRAWL_CALL_BUDGET = 100
    hub_settings.CRAWL_QUOTA_RESERVE = 0
    hub_settings.CRAWL_PUBLISH_CHUNK = 7  # several chunks per crawl
    return hub_settings


def daily_figures(day=None) -> dict[str, tuple]:
    rows = (
        DailyObservation.objects.all() if day is None else DailyObservation.objects.filter(day=day)
    )
    return {
        hub_id: (downloads, all_time)
        for hub_id, downloads, all_time in rows.values_list(
            "model__hub_id", "downloads", "downloads_all_time"
        )
    }


def expected_figures(records) -> dict[str, tuple]:
    return {r["id"]: (r["downloads"], r["downloadsAllTime"]) for r in records}


def with_all_time(records):
    return [dict(r, downloadsAllTime=10_000_000 + i * 7) for i, r in enumerate(records)]


def test_it_publishes_every_model_as_a_daily_snapshot_without_observations(
    replay_hub, crawl_settings
):
    hourly = published_snapshot(hub_records(3))
    records = with_all_time(hub_records(25))
    hub = replay_hub(records)
    outcome = crawl_run(client=client_for(hub))

    assert outcome.outcome == "published"
    snapshot, crawl = outcome.snapshot, outcome.crawl
    assert (snapshot.kind, snapshot.status) == (Snapshot.Kind.DAILY, Snapshot.Status.COMPLETE)
    assert snapshot.models_seen == 25 and snapshot.source_count == 25
    assert snapshot.calls_used == 3 == crawl.calls_used  # 10 + 10 + 5
    assert snapshot.taken_at == crawl.started_at
    assert not Observation.objects.filter(snapshot=snapshot).exists()
    assert daily_figures(crawl.day) == expected_figures(records)
    # The hourly snapshot wrote its own (earlier) day at its publish.
    assert set(DailyObservation.objects.values_list("day", flat=True)) == {
        hourly.taken_at.date(),
        crawl.day,
    }
    assert HubModel.objects.count() == 25  # the 3 of the hourly snapshot are among them
    assert HubModel.objects.get(hub_id=records[4]["id"]).library_name == "transformers"
    assert (crawl.status, crawl.pages_done, crawl.records_staged) == ("complete", 3, 25)
    assert crawl.snapshot == snapshot and not CrawlPage.objects.exists()
    # A daily snapshot is never the leaderboard.
    assert selectors.latest_snapshot() == hourly


def test_a_run_out_of_budget_pauses_and_the_next_resumes_without_gaps_or_repeats(
    replay_hub, crawl_settings
):
    records = with_all_time(hub_records(45))
    hub = replay_hub(records)
    first = crawl_run(client=client_for(hub), call_budget=2)
    assert first.outcome == "paused"
    crawl = Crawl.objects.get()
    assert (crawl.status, crawl.pages_done, crawl.records_staged) == ("paused", 2, 20)
    assert crawl.error.startswith("call budget spent")
    assert CrawlPage.objects.filter(crawl=crawl).count() == 2
    assert "cursor=" in crawl.next_url and not crawl.listing_done
    assert not Snapshot.objects.filter(kind=Snapshot.Kind.DAILY).exists()

    second = crawl_run(client=client_for(hub), call_budget=2)
    assert second.outcome == "paused"
    third = crawl_run(client=client_for(hub), call_budget=2)
    assert third.outcome == "published"
    crawl.refresh_from_db()
    assert (crawl.pages_done, crawl.records_staged, crawl.runs, crawl.calls_used) == (5, 45, 3, 5)
    assert hub.requests_served == 5  # no page read twice
    assert third.snapshot.models_seen == 45 and third.snapshot.records_skipped == 0
    assert daily_figures() == expected_figures(records)


def test_an_exception_after_some_pages_leaves_a_checkpoint_the_next_run_resumes(
    replay_hub, crawl_settings
):
    records = with_all_time(hub_records(40))
    hub = replay_hub(records)

    def boom_after_two_pages(progress):
        if progress.phase == "listing" and progress.pages_done == 2:
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):
        crawl_run(client=client_for(hub), on_progress=boom_after_two_pages)
    crawl = Crawl.objects.get()
    assert (crawl.status, crawl.pages_done, crawl.records_staged) == ("paused", 2, 20)
    assert "RuntimeError: worker lost" in crawl.error

    outcome = crawl_run(client=client_for(hub))
    assert outcome.outcome == "published" and outcome.crawl.pk == crawl.pk
    assert hub.requests_served == 4
    assert outcome.snapshot.models_seen == 40 and daily_figures() == expected_figures(records)


def test_odd_and_repeated_records_are_counted_and_the_rest_published(replay_hub, crawl_settings):
    records = with_all_time(hub_records(12))
    records[3] = dict(records[3], library_name="x" * 80)
    records[5] = dict(records[5], tags=["a\x00b"])
    records.append(dict(records[0], downloads=1))  # listed again on a later page
    hub = replay_hub(records)
    outcome = crawl_run(client=client_for(hub))
    snapshot = outcome.snapshot
    assert outcome.outcome == "published"
    assert snapshot.models_seen == 10 and snapshot.source_count == 13
    assert snapshot.records_skipped == 3
    assert snapshot.skipped_reasons == {
        "too_long": {"count": 1, "examples": [records[3]["id"]]},
        "nul_character": {"count": 1, "examples": [records[5]["id"]]},
        "duplicate_id": {"count": 1, "examples": [records[0]["id"]]},
    }
    # The first sighting is kept.
    assert daily_figures()[records[0]["id"]] == (records[0]["downloads"], 10_000_000)


def test_it_waits_for_the_window_when_the_quota_reaches_the_reserve(replay_hub, crawl_settings):
    crawl_settings.CRAWL_QUOTA_RESERVE = 2
    clock = Clock()
    hub = replay_hub(with_all_time(hub_records(40)), quota=3, window_seconds=300, clock=clock)
    outcome = crawl_run(client=client_for(hub, sleep=clock.sleep, max_wait=400))
    assert outcome.outcome == "published" and outcome.snapshot.models_seen == 40
    # r=2, then r=1 (below the reserve: wait), then a fresh window's r=2 and r=1
    # after the last page, when there is nothing left to wait for.
    assert clock.slept == [300]
    assert hub.requests_served == 4


def test_it_pauses_when_the_window_resets_later_than_it_may_wait(replay_hub, crawl_settings):
    crawl_settings.CRAWL_QUOTA_RESERVE = 2
    clock = Clock()
    hub = replay_hub(with_all_time(hub_records(40)), quota=3, window_seconds=300, clock=clock)
    outcome = crawl_run(client=client_for(hub, sleep=clock.sleep, max_wait=60))
    assert outcome.outcome == "paused"
    crawl = outcome.crawl
    assert crawl.pages_done == 2 and crawl.error.startswith("quota at the reserve")
    assert crawl.quota_remaining == 1 and crawl.quota_limit == 3
    assert crawl.quota_resets_at > timezone.now() + timedelta(seconds=200)

    clock.now += 300
    assert crawl_run(client=client_for(hub, sleep=clock.sleep, max_wait=400)).outcome == (
        "published"
    )


def test_a_published_day_is_not_crawled_again_and_an_expired_crawl_is_given_up(
    replay_hub, crawl_settings
):
    hub = replay_hub(with_all_time(hub_records(5)))
    assert crawl_run(client=client_for(hub)).outcome == "published"
    again = crawl_run(client=client_for(hub))
    assert again.outcome == "idle" and hub.requests_served == 1

    stale = Crawl.objects.create(
        day=timezone.now().date() - timedelta(days=2),
        started_at=timezone.now() - timedelta(hours=30),
        updated_at=timezone.now() - timedelta(hours=29),
        status=Crawl.Status.PAUSED,
        pages_done=1,
    )
    CrawlPage.objects.create(crawl=stale, number=1, records="[]", count=0)
    assert crawl_run(client=client_for(hub)).outcome == "idle"
    stale.refresh_from_db()
    assert stale.status == "failed" and "CRAWL_MAX_HOURS" in stale.error
    assert not CrawlPage.objects.filter(crawl=stale).exists()


def test_the_command_reports_progress_and_exits_2_when_paused_and_4_with_nothing_to_resume(
    replay_hub, crawl_settings
):
    hub = replay_hub(with_all_time(hub_records(25)))
    crawl_settings.HF_ENDPOINT = hub.url
    with pytest.raises(CommandError) as excinfo:
        call_command("crawl", "--resume", stdout=StringIO())
    assert excinfo.value.returncode == 4

    out = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("crawl", "--budget", "1", stdout=out)
    assert excinfo.value.returncode == 2 and "Run again to resume" in str(excinfo.value)
    assert "listing: page 1, 10 models staged, 1 calls" in out.getvalue()

    out = StringIO()
    call_command("crawl", "--resume", stdout=out)
    assert "Published snapshot" in out.getvalue() and "3 pages, 25 models" in out.getvalue()
    assert "Nothing to do" in _run("crawl")


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_its_progress_shows_in_health_and_metrics(client, replay_hub, crawl_settings):
    hub = replay_hub(with_all_time(hub_records(25)))
    crawl_run(client=client_for(hub), call_budget=2)
    crawl = Crawl.objects.get()
    facts = crawl_facts(crawl=crawl)
    assert (facts["pages_done"], facts["records_staged"], facts["calls_used"]) == (2, 20, 2)
    assert facts["unfinished"] and facts["eta_seconds"] is not None

    crawl_settings.METRICS_TOKEN = "operator"
    operator = {"X-Metrics-Token": "operator"}
    body = client.get("/api/v4/health", headers=operator).json()
    check = body["checks"]["crawl"]
    assert check["current"]["status"] == "paused" and check["current"]["pages_done"] == 2
    assert check["current"]["records_staged"] == 20 and check["last_published"] is None

    text = client.get("/metrics", headers=operator).content.decode()
    assert "modelboard_crawl_pages_done 2.0" in text
    assert "modelboard_crawl_records_staged 20.0" in text
    assert "modelboard_crawl_unfinished 1.0" in text


def test_a_new_model_from_the_crawl_gets_its_tags(replay_hub, crawl_settings):
    hub = replay_hub(with_all_time([hub_record("neworg/chatty", pipeline_tag="text-generation")]))
    crawl_run(client=client_for(hub))
    model = HubModel.objects.get(hub_id="neworg/chatty")
    assert set(model.model_tags.values_list("tag__slug", flat=True)) >= {"chat"}


def test_the_beat_task_runs_the_crawl_unless_it_is_disabled(replay_hub, crawl_settings):
    from snapshots.tasks import crawl_hub

    hub = replay_hub(with_all_time(hub_records(5)))
    crawl_settings.HF_ENDPOINT = hub.url
    crawl_settings.CRAWL_ENABLED = False
    assert crawl_hub.delay().get() is None and not Crawl.objects.exists()
    crawl_settings.CRAWL_ENABLED = True
    assert crawl_hub.delay().get() == "published"
    assert crawl_hub.delay().get() == "idle"


def test_a_crawl_is_published_once(replay_hub, crawl_settings):
    from snapshots.crawl import crawl_publish

    hub = replay_hub(with_all_time(hub_records(5)))
    outcome = crawl_run(client=client_for(hub))
    # A run that took an expired lease over while the first was publishing.
    assert crawl_publish(crawl=outcome.crawl) is None
    assert Snapshot.objects.filter(kind=Snapshot.Kind.DAILY).count() == 1
