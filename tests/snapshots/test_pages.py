"""The server-rendered pages: leaderboard, model page, tag pages."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry.caching import content_changed, lookup_stats
from registry.models import HubModel
from snapshots.models import Anomaly, Observation, Snapshot
from tagging.models import ModelTag, Tag, TagOverride
from tagging.services import tags_apply
from tests.factories import T0, days, hub_record, hub_records, published_snapshot

pytestmark = pytest.mark.django_db


def tag(slug: str, name: str, *hub_ids: str, position: int = 10) -> Tag:
    """A tag (created or reused) carried by the given models."""
    found, _ = Tag.objects.update_or_create(
        slug=slug, defaults={"name": name, "position": position}
    )
    ModelTag.objects.bulk_create(
        [
            ModelTag(model=model, tag=found, source=ModelTag.Source.RULE)
            for model in HubModel.objects.filter(hub_id__in=hub_ids)
        ],
        ignore_conflicts=True,
    )
    return found


def set_figures(snapshot: Snapshot, hub_id: str, **fields) -> None:
    Observation.objects.filter(snapshot=snapshot, model__hub_id=hub_id).update(**fields)


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_it_says_there_is_no_snapshot_yet(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"No complete snapshot yet" in response.content
    assert b"No snapshot yet." in response.content


def test_it_lists_the_latest_snapshot_in_rank_order(client):
    published_snapshot([hub_record("old/model", downloads=10**9)], taken_at=T0)
    latest = published_snapshot(
        [
            hub_record("meta-llama/Llama-3.1-8B", downloads=2_345_678, likes=1234),
            hub_record("someone/small", downloads=999, likes=2, pipeline_tag="fill-mask"),
        ],
        taken_at=T0 + days(1),
    )
    response = client.get("/")
    html = response.content.decode()
    assert response.context["snapshot"] == latest
    assert f"Snapshot #{latest.pk} taken" in html
    assert "old/model" not in html
    assert html.index("meta-llama/Llama-3.1-8B") < html.index("someone/small")
    assert 'href="/models/meta-llama/Llama-3.1-8B"' in html
    assert ">Meta<" in html  # provider, not the Hub author
    assert 'title="2,345,678">2.3M<' in html  # abbreviated, exact on hover
    assert "fill-mask" in html


def test_it_paginates_at_fifty_rows(client):
    published_snapshot(hub_records(120))
    first = client.get("/").content.decode()
    assert "Page 1 of 3" in first and "org0/model-00049" in first
    assert "org1/model-00050" not in first
    third = client.get("/?page=3").content.decode()
    assert "org1/model-00099" not in third and "org2/model-00100" in third
    assert 'class="twin" href="/api/v4/models" type="application/json"' in third
    assert client.get("/?page=abc").status_code == 200  # bad page numbers fall back
    assert "Page 1 of 3" in client.get("/?page=abc").content.decode()
    assert "Page 3 of 3" in client.get("/?page=999").content.decode()


def test_it_shows_delta_badges_and_rank_movement(client):
    records = [hub_record(f"acme/m{i}", downloads=1000 - i) for i in range(4)]
    published_snapshot(records, taken_at=T0)
    latest = published_snapshot(records, taken_at=T0 + days(1))
    set_figures(
        latest,
        "acme/m0",
        delta_downloads_24h=1500,
        delta_downloads_7d=-320,
        delta_likes_24h=0,
        delta_likes_7d=None,
        rank_change_24h=3,
        is_new_24h=False,
    )
    set_figures(latest, "acme/m1", rank_change_24h=-1, delta_downloads_24h=-2_000_000)
    set_figures(latest, "acme/m2", is_new_24h=True, is_new_7d=True, rank_change_24h=None)
    set_figures(
        latest,
        "acme/m3",
        rank_change_24h=None,
        is_new_24h=False,
        is_new_7d=False,
        delta_downloads_24h=None,
        delta_downloads_7d=None,
        delta_likes_24h=None,
        delta_likes_7d=None,
    )
    html = page(client, "/")
    m0 = html[html.index('href="/models/acme/m0"') - 400 : html.index('href="/models/acme/m1"')]
    assert 'class="move up" title="Up 3 places in 24 hours">▲3<' in m0
    assert 'class="delta up" title="+1,500 in 24h">▲1.5k<' in m0
    assert 'class="delta down" title="-320 in 7d">▼320<' in m0
    assert 'class="delta flat" title="No change in 24h">±0<' in m0
    assert 'class="delta unknown" title="7d: no snapshot to compare with">—<' in m0
    m1 = html[html.index('href="/models/acme/m1"') - 400 : html.index('href="/models/acme/m2"')]
    assert 'title="Down 1 place in 24 hours">▼1<' in m1
    assert 'class="delta down" title="-2,000,000 in 24h">▼2M<' in m1
    m2 = html[html.index('href="/models/acme/m2"') - 400 : html.index('href="/models/acme/m3"')]
    assert m2.count('class="delta new"') == 4  # downloads and likes, 24h and 7d
    assert 'class="move new"' in m2
    m3 = html[html.index('href="/models/acme/m3"') - 400 :]
    assert m3.count('class="delta unknown"') == 4  # unknown is "—", never 0
    assert 'class="move unknown"' in m3
    assert "±0" not in m3


def test_it_shows_the_deltas_computed_at_publish(client):
    published_snapshot([hub_record("acme/a", downloads=1000, likes=5)], taken_at=T0)
    published_snapshot(
        [hub_record("acme/a", downloads=1600, likes=7), hub_record("acme/b", downloads=10)],
        taken_at=T0 + days(1),
    )
    html = page(client, "/")
    assert 'title="+600 in 24h">▲600<' in html
    assert 'title="+2 in 24h">▲2<' in html
    assert 'class="move new"' in html  # acme/b was not there a day before


def test_it_shows_tags_as_chips_that_link_to_tag_pages(client):
    published_snapshot([hub_record("acme/chatty"), hub_record("acme/plain", downloads=1)])
    tag("t-alpha", "Alpha", "acme/chatty", position=1001)
    tag("t-beta", "Beta", "acme/chatty", position=1002)
    html = page(client, "/")
    chatty = html[
        html.index('href="/models/acme/chatty"') : html.index('href="/models/acme/plain"')
    ]
    chips = re.findall(r'class="chip tag" href="(/tags/t-[\w-]+)">(\w+)<', chatty)
    assert chips == [("/tags/t-alpha", "Alpha"), ("/tags/t-beta", "Beta")]
    assert 'href="/tags/t-' not in html[html.index('href="/models/acme/plain"') :]


def test_it_draws_a_thirty_day_sparkline_per_row(client):
    records = hub_records(3)
    for day in range(4):
        published_snapshot(
            [{**r, "downloads": r["downloads"] + day * 100} for r in records],
            taken_at=T0 + days(day),
        )
    html = page(client, "/")
    sparks = re.findall(r'<svg class="spark spark-(\w+)".*?</svg>', html, re.S)
    assert sparks == ["up", "up", "up"]
    first = re.search(r'<svg class="spark.*?</svg>', html, re.S).group(0)
    assert "<title>Downloads, 30 days: 1,000,000 on Mar 1, 1,000,300 on Mar 4</title>" in first
    assert len(re.search(r'points="([^"]+)"', first).group(1).split()) == 4


def test_a_model_with_one_point_has_no_sparkline_yet(client):
    published_snapshot(hub_records(1))
    html = page(client, "/")
    assert "<svg" not in html and 'class="spark-none"' in html


def test_every_page_says_how_fresh_the_data_is(client):
    published_snapshot(hub_records(1), taken_at=T0)  # months ago: stale
    assert "Stale: no newer snapshot, though one is due every 1 hour." in page(client, "/")
    content_changed(reason="test")
    fresh = published_snapshot(hub_records(1), taken_at=timezone.now() - days(0))
    tag("chat", "Chat", "org0/model-00000")
    for url in ("/", "/models/org0/model-00000", "/tags/", "/tags/chat"):
        html = page(client, url)
        assert f"Snapshot #{fresh.pk} taken" in html, url
        assert fresh.taken_at.strftime("%Y-%m-%d %H:%M") in html, url
        assert "Stale" not in html, url


def test_the_freshness_line_is_not_cached_with_the_page(client):
    snapshot = published_snapshot(hub_records(1), taken_at=timezone.now())
    assert "Stale" not in page(client, "/")
    # Time passes (the snapshot ages past twice its TTL) while the body stays cached.
    Snapshot.objects.filter(pk=snapshot.pk).update(ttl_seconds=1, taken_at=timezone.now() - days(1))
    assert "Stale: no newer snapshot, though one is due every 1 second" in page(client, "/")


def test_every_page_links_its_json_twin(client):
    published_snapshot([hub_record("acme/a")])
    tag("chat", "Chat", "acme/a")
    assert 'class="twin" href="/api/v4/models"' in page(client, "/")
    assert 'class="twin" href="/api/v4/models/acme/a"' in page(client, "/models/acme/a")
    assert 'class="twin" href="/api/v4/tags"' in page(client, "/tags/")
    assert 'class="twin" href="/api/v4/tags"' in page(client, "/tags/chat")


@pytest.mark.parametrize("n", [5, 60])
def test_the_leaderboard_query_count_is_pinned(client, n):
    published_snapshot(hub_records(n))
    tag("chat", "Chat", *[f"org{i % 7}/model-{i:05d}" for i in range(n)])
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/").status_code == 200
    # latest snapshot, the curated profiles, the filter form's tags, providers,
    # families and tasks, row count for the pager, the page of rows with models,
    # providers and families, their tags, their sparkline series, their anomalies
    assert len(ctx.captured_queries) == 11, [q["sql"][:70] for q in ctx.captured_queries]
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/").status_code == 200
    assert len(ctx.captured_queries) == 1  # cached: only which snapshot is latest


def test_pages_are_cached_per_snapshot_and_count_hits(client):
    published_snapshot([hub_record("acme/a", downloads=100)], taken_at=T0)
    assert 'title="100">100<' in page(client, "/")
    assert 'title="100">100<' in page(client, "/")
    assert lookup_stats() == {"hit": 1, "miss": 1}
    # Publishing invalidates (through content_changed, on commit).
    published_snapshot([hub_record("acme/a", downloads=250)], taken_at=T0 + days(1))
    html = page(client, "/")
    assert 'title="250">250<' in html and 'title="100">100<' not in html
    assert lookup_stats() == {"hit": 1, "miss": 2}
    # Pages 1 and "junk" share one entry.
    page(client, "/?page=junk")
    assert lookup_stats() == {"hit": 2, "miss": 2}


def test_a_curation_change_shows_after_content_changed(client):
    published_snapshot([hub_record("acme/a")])
    assert 'href="/tags/t-alpha"' not in page(client, "/")
    tag("t-alpha", "Alpha", "acme/a")
    assert 'href="/tags/t-alpha"' not in page(client, "/")  # still the cached page
    content_changed(reason="tags applied")
    assert 'href="/tags/t-alpha">Alpha<' in page(client, "/")


def test_an_override_shows_on_the_pages_after_re_apply(client, django_capture_on_commit_callbacks):
    published_snapshot([hub_record("acme/a", pipeline_tag="text-classification")])
    alpha = Tag.objects.create(slug="t-alpha", name="Alpha", position=1001)
    model = HubModel.objects.get(hub_id="acme/a")
    assert 'href="/tags/t-alpha"' not in page(client, "/models/acme/a")

    TagOverride.objects.create(tag=alpha, model=model, action=TagOverride.Action.INCLUDE)
    with django_capture_on_commit_callbacks(execute=True):
        tags_apply()  # what the admin's re-apply runs; it invalidates on commit
    assert 'class="chip tag" href="/tags/t-alpha">Alpha<' in page(client, "/models/acme/a")
    assert 'href="/tags/t-alpha">Alpha<' in page(client, "/")
    assert '<a href="/models/acme/a">' in page(client, "/tags/t-alpha")

    TagOverride.objects.filter(model=model).update(action=TagOverride.Action.EXCLUDE)
    with django_capture_on_commit_callbacks(execute=True):
        tags_apply()
    assert 'href="/tags/t-alpha"' not in page(client, "/models/acme/a")
    assert "No model in the latest snapshot carries this tag." in page(client, "/tags/t-alpha")


def test_the_model_page_shows_facts_and_recent_snapshots(client):
    record = hub_record(
        "acme/coder-33b",
        downloads=5000,
        cardData={"license": "cc-by-nc-4.0"},
        safetensors={"total": 33_000_000_000},
        tags=["base_model:finetune:acme/base-33b"],
    )
    published_snapshot([record], taken_at=T0)
    published_snapshot([{**record, "downloads": 7000}], taken_at=T0 + days(1))
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/models/acme/coder-33b")
    html = response.content.decode()
    assert response.status_code == 200
    assert "cc-by-nc-4.0" in html and "non-commercial" in html
    assert "15-40B" in html and 'title="33,000,000,000">33B<' in html
    assert 'href="/models/acme/base-33b"' in html and "finetune" in html
    assert html.index("2026-03-02 12:00") < html.index("2026-03-01 12:00")  # newest first
    assert 'title="7,000">7k<' in html
    # latest snapshot, the model, its observation, its tags, and the 30-day
    # history that both the charts and the recent-snapshots table draw from,
    # and its anomalies of those 30 days
    assert len(ctx.captured_queries) == 6, [q["sql"][:70] for q in ctx.captured_queries]


def test_the_model_page_draws_a_trend_chart_with_axes_and_tooltips(client):
    record = hub_record("acme/a")
    for day, (downloads, likes) in enumerate([(1000, 10), (1500, 12), (1200, 15)]):
        published_snapshot(
            [{**record, "downloads": downloads, "likes": likes}], taken_at=T0 + days(day)
        )
    html = page(client, "/models/acme/a")
    charts = re.findall(r'<svg class="chart[^"]*".*?</svg>', html, re.S)
    assert len(charts) == 3  # downloads, likes, rank
    downloads = charts[0]
    assert 'role="img"' in downloads
    assert 'aria-label="Downloads (rolling 30 days): 1,000 on Mar 1, 1,200 on Mar 3;' in downloads
    tooltips = re.findall(r"<title>([^<]*downloads)</title>", downloads)
    assert tooltips == [
        "Mar 1, 2026 12:00 UTC: 1,000 downloads",
        "Mar 2, 2026 12:00 UTC: 1,500 downloads",
        "Mar 3, 2026 12:00 UTC: 1,200 downloads",
    ]
    y_ticks = re.findall(r'<text class="yt"[^>]*>([^<]*)</text>', downloads)
    assert y_ticks == ["1k", "1.2k", "1.4k", "1.6k"]  # round steps covering 1,000..1,500
    x_ticks = re.findall(r'<text class="xt"[^>]*>([^<]*)</text>', downloads)
    assert x_ticks == ["Mar 2", "Mar 3"]  # UTC midnights within the model's history
    assert '<text class="axis-title" x="2" y="206">UTC</text>' in downloads
    assert "Mar 3, 2026 12:00 UTC: 15 likes" in charts[1]
    assert "Mar 3, 2026 12:00 UTC: #1 on the leaderboard" in charts[2]


def test_the_model_page_shows_deltas_and_tags(client):
    published_snapshot([hub_record("acme/a"), hub_record("acme/b", downloads=5000)], taken_at=T0)
    latest = published_snapshot(
        [hub_record("acme/a", downloads=9000), hub_record("acme/b", downloads=5000)],
        taken_at=T0 + days(1),
    )
    set_figures(latest, "acme/a", delta_downloads_7d=None, daily_downloads=4321)
    tag("t-alpha", "Alpha", "acme/a")
    html = page(client, "/models/acme/a")
    stats = html[html.index('class="stats"') : html.index('class="trends"')]
    assert "#1" in stats and 'title="Up 1 place in 24 hours">▲1<' in stats
    assert 'title="+8,000 in 24h">▲8k<' in stats
    assert 'class="delta unknown" title="7d: no snapshot to compare with">—<' in stats
    assert 'title="4,321 downloads since the snapshot a day before">4.3k<' in stats
    assert 'class="chip tag" href="/tags/t-alpha">Alpha<' in html


def test_the_model_page_query_count_does_not_grow_with_history(client):
    record = hub_record("acme/a")
    for day in range(12):
        published_snapshot([{**record, "downloads": 1000 + day}], taken_at=T0 + days(day))
    tag("chat", "Chat", "acme/a")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/models/acme/a").status_code == 200
    assert len(ctx.captured_queries) == 6
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/models/acme/a").status_code == 200
    assert len(ctx.captured_queries) == 1


def test_the_model_page_is_a_404_for_unknown_models(client):
    published_snapshot(hub_records(1))
    response = client.get("/models/nobody/nothing")
    assert response.status_code == 404
    assert b"We have not seen a model called nobody/nothing." in response.content


def test_private_models_never_show_on_the_pages(client):
    published_snapshot(
        [hub_record("acme/open", downloads=10), hub_record("acme/secret", private=True)]
    )
    html = page(client, "/")
    assert "acme/open" in html and "acme/secret" not in html
    assert client.get("/models/acme/secret").status_code == 404


def test_the_tag_list_shows_every_tag_with_its_count(client):
    published_snapshot([hub_record("acme/a"), hub_record("acme/b"), hub_record("acme/c")])
    tag("t-alpha", "Alpha", "acme/a", "acme/b", position=1001)
    tag("t-beta", "Beta", "acme/a", position=1002)
    tag("t-gamma", "Gamma", position=1003)
    html = page(client, "/tags/")
    found = re.findall(
        r'href="/tags/(t-[\w-]+)">(\w+)</a>\s*<span class="count">([^<]+)</span>', html
    )
    assert found == [
        ("t-alpha", "Alpha", "2 models"),
        ("t-beta", "Beta", "1 model"),
        ("t-gamma", "Gamma", "0 models"),
    ]
    assert 'href="/tags/chat">Chat</a>' in html  # the curated list seeded by migration


def test_a_tag_page_is_the_leaderboard_of_that_tag(client):
    published_snapshot(
        [
            hub_record("acme/top", downloads=9000),
            hub_record("acme/coder", downloads=5000),
            hub_record("acme/coder-small", downloads=100),
            hub_record("acme/secret-coder", downloads=7000, private=True),
        ]
    )
    tag("t-code", "Code", "acme/coder", "acme/coder-small", "acme/secret-coder")
    html = page(client, "/tags/t-code")
    listed = re.findall(r'<a href="/models/([^"]+)">', html)
    assert listed == ["acme/coder", "acme/coder-small"]  # private models never show
    assert '<span class="place">3</span>' in html  # the overall rank
    assert "2 models in the latest snapshot" in html
    assert html.count('<svg class="spark') == 0  # one snapshot: no sparkline yet


def test_a_tag_page_for_an_unknown_tag_is_a_404(client):
    published_snapshot(hub_records(1))
    assert client.get("/tags/nope").status_code == 404


@pytest.mark.parametrize("n", [3, 60])
def test_the_tag_page_query_count_is_pinned(client, n):
    records = hub_records(n)
    published_snapshot(records, taken_at=T0)
    published_snapshot(records, taken_at=T0 + days(1))
    tag("chat", "Chat", *[r["id"] for r in records])
    tag("code", "Code", *[r["id"] for r in records[::2]])
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/tags/chat").status_code == 200
    # latest snapshot, the tag, the default profile, row count, the rows,
    # their tags, their series, their anomalies
    assert len(ctx.captured_queries) == 8, [q["sql"][:70] for q in ctx.captured_queries]
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/tags/").status_code == 200
    assert len(ctx.captured_queries) == 2  # latest snapshot, tags with counts


def test_axis_ticks_are_round_and_labels_tell_them_apart():
    from snapshots.templatetags.charts import nice_ticks, tick_labels

    assert nice_ticks(1000, 1500) == [1000, 1200, 1400, 1600]
    assert nice_ticks(0, 5_000_000) == [0, 2_000_000, 4_000_000, 6_000_000]
    assert nice_ticks(7, 7) == [6, 7, 8]  # a flat series still gets an axis
    assert tick_labels([0, 2_000_000, 4_000_000]) == ["0", "2M", "4M"]
    assert tick_labels([2000, 2005, 2010]) == ["2,000", "2,005", "2,010"]  # not "2k" three times
    assert tick_labels([1_000_000, 1_001_000, 1_002_000]) == ["1M", "1.001M", "1.002M"]


def test_charts_keep_the_last_point_of_each_day():
    from snapshots.templatetags.charts import daily

    hourly = [(T0 + days(0) + i * days(1) / 4, i) for i in range(9)]  # every 6 hours
    assert [value for _, value in daily(hourly)] == [1, 5, 8]  # Mar 1 12:00..18:00, Mar 2, Mar 3


def test_durations_and_relative_times_read_naturally():
    from snapshots.templatetags.figures import ago, duration

    assert [duration(s) for s in (3600, 5400, 172_800, 90, 1, 7385)] == [
        "1 hour",
        "90 minutes",
        "2 days",
        "90 seconds",
        "1 second",
        "about 123 minutes",
    ]
    assert ago(timezone.now()) == "just now"
    assert ago(timezone.now() - days(130)) == "4\xa0months ago"  # never wraps
    assert ago(None) == "—"


# --- The filter form ---------------------------------------------------------------


def filter_board() -> Snapshot:
    latest = published_snapshot(
        [
            hub_record("meta-llama/Llama-3.1-8B", downloads=5000, cardData={"license": "llama3.1"}),
            hub_record("mistralai/Mistral-7B", downloads=4000),
            hub_record("google-bert/bert-base", downloads=3000, pipeline_tag="fill-mask"),
            hub_record(
                "acme/coder-1b",
                downloads=2000,
                safetensors={"total": 10**9},
                pipeline_tag="feature-extraction",
            ),
        ]
    )
    tag("chat", "Chat", "meta-llama/Llama-3.1-8B", "mistralai/Mistral-7B")
    tag("code", "Code", "meta-llama/Llama-3.1-8B", "acme/coder-1b", position=20)
    return latest


def board_ids(html: str) -> list[str]:
    return re.findall(r'<a href="/models/([^"]+)">', html)


def test_the_form_filters_and_sorts_the_board(client):
    filter_board()
    assert board_ids(page(client, "/")) == [
        "meta-llama/Llama-3.1-8B",
        "mistralai/Mistral-7B",
        "google-bert/bert-base",
        "acme/coder-1b",
    ]
    assert board_ids(page(client, "/?tag=chat&sort=downloads")) == [
        "mistralai/Mistral-7B",
        "meta-llama/Llama-3.1-8B",
    ]
    assert board_ids(page(client, "/?tag=chat,code")) == ["meta-llama/Llama-3.1-8B"]
    assert board_ids(page(client, "/?provider=google&search=bert")) == ["google-bert/bert-base"]
    assert board_ids(page(client, "/?param_class=1-3B&license_class=permissive")) == [
        "acme/coder-1b"
    ]
    # Premium on the API, public on the pages.
    assert board_ids(page(client, "/?license=llama3.1")) == ["meta-llama/Llama-3.1-8B"]
    html = page(client, "/?search=nothing-like-it")
    assert board_ids(html) == [] and "No model in the latest snapshot matches" in html


def test_the_form_round_trips_its_values(client):
    filter_board()
    html = page(client, "/?search=llama&tag=chat&provider=meta&min_downloads=10&sort=-likes")
    form = html[html.index('<form class="filters"') : html.index("</form>")]
    assert 'method="get"' in form
    assert 'name="search" value="llama"' in form
    assert '<option value="chat" selected>Chat</option>' in form
    assert '<option value="code">Code</option>' in form
    assert '<option value="meta" selected>Meta</option>' in form
    assert 'name="min_downloads" value="10"' in form
    assert '<option value="-likes" selected>Likes</option>' in form
    assert '<option value="" selected>Any</option>' not in form.split('name="tag"')[1][:200]
    # A parameter the bar does not show is kept for the next submission.
    kept = page(client, "/?license=llama3.1&tag=chat")
    assert '<input type="hidden" name="license" value="llama3.1">' in kept
    # A list from a shared URL stays selected as it was given.
    listed = page(client, "/?tag=chat,code")
    assert '<option value="chat,code" selected>chat,code</option>' in listed


def test_a_shared_url_gives_the_same_page_and_the_same_cache_entry(client):
    filter_board()
    first = page(client, "/?tag=chat&tag=code&sort=-downloads")
    assert lookup_stats() == {"hit": 0, "miss": 1}
    again = page(client, "/?sort=-downloads&tag=chat,code")  # same question, other spelling
    assert lookup_stats() == {"hit": 1, "miss": 1}
    assert board_ids(first) == board_ids(again) == ["meta-llama/Llama-3.1-8B"]


def test_the_links_carry_the_filters(client):
    published_snapshot(hub_records(120))
    tag("chat", "Chat", *[f"org{i % 7}/model-{i:05d}" for i in range(120)])
    html = page(client, "/?tag=chat&sort=-likes&page=2")
    assert 'href="?tag=chat&amp;sort=-likes&amp;page=3" rel="next"' in html
    assert 'href="?tag=chat&amp;sort=-likes&amp;page=1" rel="prev"' in html
    assert 'class="twin" href="/api/v4/models?tag=chat&amp;sort=-likes"' in html
    assert 'class="twin" href="/api/v4/export.csv?tag=chat&amp;sort=-likes"' in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("param_class=huge", "Invalid value for &#x27;param_class&#x27;: unknown parameter class"),
        ("min_downloads=lots", "Invalid value for &#x27;min_downloads&#x27;: must be a whole"),
        ("sort=best", "Invalid value for &#x27;sort&#x27;: must be one of: rank, -rank"),
        ("tag=poetry", "Invalid value for &#x27;tag&#x27;: unknown tag &#x27;poetry&#x27;"),
    ],
)
def test_a_bad_value_answers_400_with_the_problem_by_the_form(client, query, message):
    filter_board()
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    html = response.content.decode()
    problems = html[html.index('id="filter-problems"') :]
    assert message in problems[:600]
    assert html.index("</form>") < html.index('id="filter-problems"')
    assert 'aria-invalid="true"' in html
    assert board_ids(html) == []
    assert client.get(f"/?{query}").status_code == 400  # refusals are not cached as pages
    assert lookup_stats()["hit"] == 0


def test_a_submitted_form_lands_on_the_short_url(client):
    filter_board()
    full = "/?search=&tag=chat&provider=&license_class=&param_class=&pipeline_tag="
    response = client.get(full + "&min_downloads=&new=&sort=-likes&page=2")
    assert response.status_code == 302
    assert response["Location"] == "/?tag=chat&sort=-likes&page=2"
    everything_empty = client.get("/?search=&tag=&sort=")
    assert (everything_empty.status_code, everything_empty["Location"]) == (302, "/")
    assert client.get("/?tag=chat&sort=-likes").status_code == 200  # already short


# --- Scores, anomalies and families on the board ------------------------------------


def board_row(html: str, hub_id: str) -> str:
    """The board's row of `hub_id`, from its link on (its breakdown's own rows included)."""
    row = html[html.index(f'href="/models/{hub_id}"') :]
    return row[: row.index("\n    </tr>")]


def rivals_board() -> Snapshot:
    """One model everybody downloads, one people like and keep updating (as in the API's tests)."""
    return published_snapshot(
        [
            hub_record("big/downloads", downloads=1_000_000, likes=1, trendingScore=1),
            hub_record(
                "loved/likes",
                downloads=10,
                likes=500,
                trendingScore=1,
                lastModified="2026-02-25T10:00:00.000Z",
            ),
        ]
    )


def test_the_profile_select_scores_and_sorts_the_board(client):
    rivals_board()
    html = page(client, "/?sort=-score&profile=production")
    assert board_ids(html) == ["big/downloads", "loved/likes"]
    assert '<option value="production" selected>Production</option>' in html
    assert '<option value="research">Research</option>' in html
    html = page(client, "/?sort=-score&profile=research")
    assert board_ids(html) == ["loved/likes", "big/downloads"]
    # The JSON and CSV twins ask the same question.
    assert 'class="twin" href="/api/v4/models?sort=-score&amp;profile=research"' in html
    # Without a profile: the default one (community), selected in the form.
    html = page(client, "/")
    assert '<option value="community" selected>Community</option>' in html
    assert 'Score<span class="sub">Community</span>' in html


def test_each_score_opens_to_its_breakdown(client):
    rivals_board()
    html = page(client, "/?profile=research")
    row = board_row(html, "loved/likes")
    assert '<details class="score"><summary title="Research score, out of 100' in row
    assert ">45.0</summary>" in row
    assert "<caption>Research profile: points out of 100</caption>" in row
    assert '<th scope="row">Likes</th><td class="num">100.0</td><td class="num">25</td>' in row
    # A component the profile does not weigh is not listed; an unknown one says so.
    assert "License openness" not in row
    assert "unknown" in row  # no 7-day baseline: growth is unknown


def test_an_unknown_or_custom_profile_is_refused_by_the_form(client):
    rivals_board()
    response = client.get("/?profile=nope")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Invalid value for &#x27;profile&#x27;: no profile &#x27;nope&#x27;" in html
    assert '<option value="nope" selected>nope</option>' in html
    assert client.get("/?profile=").status_code == 302  # an empty field drops out


def test_rows_carry_anomaly_badges_and_their_family(client):
    snapshot = published_snapshot(
        [hub_record("meta-llama/Llama-3.1-8B", downloads=5000), hub_record("acme/calm")]
    )
    Anomaly.objects.create(
        model=HubModel.objects.get(hub_id="meta-llama/Llama-3.1-8B"),
        day=snapshot.taken_at.date(),
        metric=Anomaly.Metric.DOWNLOADS,
        basis=Anomaly.Basis.values[0],
        snapshot=snapshot,
        value=90_000,
        median=1000,
        mad=10,
        scale=10,
        z=50,
        change=89_000,
        history_days=14,
        detected_at=snapshot.taken_at,
    )
    html = page(client, "/")
    llama = board_row(html, "meta-llama/Llama-3.1-8B")
    assert '<span class="anomaly" title="Daily downloads on 2026-03-01: 90000 a day' in llama
    assert "⚡ downloads spike" in llama
    assert '<a class="family" href="/families/llama/">Llama</a>' in llama
    calm = board_row(html, "acme/calm")
    assert "anomaly" not in calm and 'class="family"' not in calm
    # production asks for 10,000 a day more: this one passes, so no badge.
    Anomaly.objects.update(change=5000, value=6000)
    content_changed(reason="anomalies recomputed")
    assert "⚡" not in page(client, "/?profile=production")
    assert "⚡" in page(client, "/?profile=community")


def test_the_board_filters_by_family(client):
    filter_board()
    assert board_ids(page(client, "/?family=llama,mistral")) == [
        "meta-llama/Llama-3.1-8B",
        "mistralai/Mistral-7B",
    ]
    html = page(client, "/?family=llama")
    assert '<option value="llama" selected>Llama</option>' in html
