"""Server-rendered pages. Each is a view of the latest complete snapshot.

A page is a cached body inside a shell rendered on every request. The body
(tables, sparklines, charts: the part that costs queries) is cached under a
key versioned by the content generation and the snapshot's id, so a publish or
a curation change (`registry.caching.content_changed`) retires it. The shell
says how old the snapshot is; rendering it per request keeps "taken 5
minutes ago" and the stale warning true however long a body stays cached.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone

from registry.caching import record_lookup, versioned_key
from tagging import selectors as tagging

from . import family_selectors, scoring, selectors
from .anomalies import anomalies_for
from .filters import FILTER_NAMES, LeaderboardFilter, filter_form
from .models import Observation, ScoringProfile, Snapshot

PAGE_SIZE = 50
TREND_DAYS = 30
RECENT_ROWS = 30


def leaderboard(request: HttpRequest) -> HttpResponse:
    """The latest snapshot's board, narrowed and sorted by the filter form (GET).

    The filters are LeaderboardFilter's, as in the API; `profile` (a curated
    scoring profile; the default one unless named) scores the rows and picks
    which anomalies are badged. The URL is the whole state, so it can be
    shared. Bad values answer 400 with the problem shown next to the form.
    The body is cached per normalized filter set and profile.
    """
    number = _page_number(request)
    profile_slug = request.GET.get("profile", "").strip()
    pairs = LeaderboardFilter(request.GET).normalized()
    if profile_slug:
        pairs.append(("profile", profile_slug))
    query = urlencode(pairs)
    if _has_empty_filters(request):
        # The form submits every field; send the browser to the short URL
        # that asks the same, which is the one worth sharing.
        page = f"page={number}" if number > 1 else ""
        return redirect(f"{request.path}?{'&'.join(p for p in (query, page) if p)}".rstrip("?"))
    snapshot = selectors.latest_snapshot()

    def body() -> dict:
        profiles = list(ScoringProfile.objects.curated().order_by("position", "slug"))
        profile = _chosen_profile(profiles, profile_slug)
        rows = (
            selectors.with_daily_figures(
                selectors.leaderboard_rows(snapshot=snapshot), snapshot=snapshot
            )
            if snapshot is not None
            else Observation.objects.none()
        )
        if profile is not None:
            rows = scoring.with_profile_score(rows, profile)
        filterset = LeaderboardFilter(request.GET, queryset=rows)
        valid = filterset.is_valid()
        problems = [] if valid else _problems(filterset)
        if profile_slug and (profile is None or profile.slug != profile_slug):
            known = ", ".join(p.slug for p in profiles)
            problems.append(
                f"Invalid value for 'profile': no profile '{profile_slug}'; choose one of: {known}"
            )
            valid = False
        filters = filter_form(filterset, selectors.filter_bar_options(snapshot=snapshot))
        filters["fields"].append(_profile_field(profiles, profile, profile_slug))
        context: dict = {
            "snapshot": snapshot,
            "query": query,
            # The Downloads/day header sorts by it, keeping the other filters.
            "sort_daily_url": "?"
            + urlencode([*((k, v) for k, v in pairs if k != "sort"), ("sort", "-daily_downloads")]),
            "filters": filters,
            "problems": problems,
            "profile": profile,
            **_window(snapshot),
        }
        if snapshot is not None and valid:
            count = selectors.board_count(snapshot=snapshot, filterset=filterset)
            context.update(_ranked_page(filterset.qs, number, snapshot, profile, count=count))
        return {
            "title": "Modelboard · the Hub's models over time",
            "body": render_to_string("snapshots/leaderboard.html", context),
            "status": 200 if valid else 400,
        }

    return _page(request, snapshot=snapshot, key=("leaderboard", query, number), body=body)


def _chosen_profile(profiles: list[ScoringProfile], slug: str) -> ScoringProfile | None:
    """The curated profile `slug` names (pages show no custom ones), else the default.

    None only when even the default profile is gone: the board is then unscored.
    """
    by_slug = {p.slug: p for p in profiles}
    return by_slug.get(slug) or by_slug.get(settings.SCORING_DEFAULT_PROFILE)


def _profile_field(profiles: list[ScoringProfile], profile, given: str) -> dict:
    """The filter bar's profile select, as filters.filter_form shapes its fields."""
    chosen = given or (profile.slug if profile else "")
    options = [(p.slug, p.name, p.slug == chosen) for p in profiles]
    if given and given not in {p.slug for p in profiles}:
        options.append((given, given, True))
    return {
        "name": "profile",
        "label": "Score",
        "kind": "select",
        "value": chosen,
        "invalid": bool(given) and (profile is None or profile.slug != given),
        "options": options,
    }


def _has_empty_filters(request: HttpRequest) -> bool:
    return any(
        (name in FILTER_NAMES or name == "profile") and not value.strip()
        for name, values in request.GET.lists()
        for value in values
    )


def _problems(filterset: LeaderboardFilter) -> list[str]:
    return [
        f"Invalid value for '{name}': {message}"
        for name, messages in filterset.problems().items()
        for message in messages
    ]


def model_detail(request: HttpRequest, hub_id: str) -> HttpResponse:
    snapshot = selectors.latest_snapshot()

    def body() -> dict:
        view = selectors.model_in_snapshot(hub_id=hub_id, snapshot=snapshot)
        if view is None:
            raise Http404(f"We have not seen a model called {hub_id}.")
        model = view.model
        history = selectors.model_history(model=model, days=TREND_DAYS, snapshot=snapshot)
        context = {
            "snapshot": snapshot,
            "view": view,
            "model": model,
            "tags": tagging.tags_for_models(model_ids=[model.pk])[model.pk],
            **_family_context(model, snapshot),
            # The table: the newest 30 of the snapshots the charts draw.
            "history": history[::-1][:RECENT_ROWS],
            "downloads": [(p.taken_at, p.downloads) for p in history],
            "likes": [(p.taken_at, p.likes) for p in history],
            "ranks": [(p.taken_at, p.rank) for p in history],
            **_window(snapshot),
        }
        return {
            "title": f"{model.hub_id} · Modelboard",
            "body": render_to_string("snapshots/model.html", context),
        }

    return _page(request, snapshot=snapshot, key=("model", hub_id), body=body)


def _family_context(model, snapshot: Snapshot | None) -> dict:
    """The model's family and relation, and the family's best ranked other members."""
    membership = family_selectors.membership_of(model)
    others = []
    if membership is not None and snapshot is not None:
        others = family_selectors.other_members(membership=membership, snapshot=snapshot)
    return {"membership": membership, "other_members": others}


def tag_list(request: HttpRequest) -> HttpResponse:
    snapshot = selectors.latest_snapshot()

    def body() -> dict:
        tags = list(tagging.tag_list())
        return {
            "title": "Capability tags · Modelboard",
            "body": render_to_string("snapshots/tags.html", {"tags": tags}),
        }

    return _page(request, snapshot=snapshot, key=("tags",), body=body)


def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    snapshot = selectors.latest_snapshot()
    number = _page_number(request)

    def body() -> dict:
        tag = tagging.tag_by_slug(slug=slug)
        if tag is None:
            raise Http404(f"There is no tag called {slug}.")
        context: dict = {"snapshot": snapshot, "tag": tag, **_window(snapshot)}
        if snapshot is not None:
            rows = selectors.with_daily_figures(
                selectors.leaderboard_rows(snapshot=snapshot), snapshot=snapshot
            ).filter(model__in=tagging.models_with_tag(tag=tag).values("pk"))
            profile = scoring.default_profile()
            if profile is not None:
                rows = scoring.with_profile_score(rows, profile)
            context.update(_ranked_page(rows, number, snapshot, profile))
        return {
            "title": f"{tag.name} models · Modelboard",
            "body": render_to_string("snapshots/tag.html", context),
        }

    return _page(request, snapshot=snapshot, key=("tag", slug, number), body=body)


def _page(
    request: HttpRequest,
    *,
    snapshot: Snapshot | None,
    key: tuple,
    body: Callable[[], dict],
) -> HttpResponse:
    """The shell around a cached body.

    The snapshot id is in the key as well as the generation: should the
    generation counter itself be evicted and restart, a body cached for an
    older snapshot still cannot come back.
    """
    cache_key = versioned_key("page", snapshot.pk if snapshot else 0, *key)
    cached = cache.get(cache_key)
    record_lookup(hit=cached is not None)
    if cached is None:
        cached = body()
        if cached.get("status", 200) == 200:  # refusals of junk are not worth keeping
            cache.set(cache_key, cached)
    return render(
        request,
        "snapshots/page.html",
        {"snapshot": snapshot, "stale": _is_stale(snapshot), **cached},
        status=cached.get("status", 200),
    )


def _is_stale(snapshot: Snapshot | None) -> bool:
    """Older than twice its time to live: refreshes have stopped, say so."""
    if snapshot is None:
        return False
    return timezone.now() - snapshot.taken_at > timedelta(seconds=2 * snapshot.ttl_seconds)


def _page_number(request: HttpRequest) -> int:
    # Normalized before it becomes part of a cache key, so junk query strings
    # share page 1's entry instead of each caching a copy.
    raw = request.GET.get("page", "")
    return int(raw) if raw.isdigit() and 0 < len(raw) <= 6 and int(raw) > 0 else 1


def _window(snapshot: Snapshot | None) -> dict:
    """The trend window every chart and sparkline on a page shares."""
    if snapshot is None:
        return {}
    return {
        "window_start": snapshot.taken_at - timedelta(days=TREND_DAYS),
        "window_end": snapshot.taken_at,
    }


class _CountedPaginator(Paginator):
    """A Paginator told how many rows there are (selectors.board_count): no COUNT(*) of its own."""

    def __init__(self, object_list, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @property
    def count(self) -> int:
        return self._known_count


def _ranked_page(
    rows,
    number: int,
    snapshot: Snapshot,
    profile: ScoringProfile | None,
    *,
    count: int | None = None,
) -> dict:
    """One page of observations, each with its tags, 30-day sparkline and anomaly badges.

    Four queries whatever the page size: the rows (scored when `rows` came
    from scoring.with_profile_score, family joined), their tags, their
    series, their anomalies (those `profile` flags); a fifth counts the rows
    unless `count` is known.
    """
    rows = rows.select_related("model__family_membership__family")
    paginator = (
        Paginator(rows, PAGE_SIZE)
        if count is None
        else _CountedPaginator(rows, PAGE_SIZE, count=count)
    )
    page: Page = paginator.get_page(number)
    observations: list[Observation] = list(page.object_list)
    ids = [obs.model_id for obs in observations]
    anomalies: dict = {}
    if ids:
        tags = tagging.tags_for_models(model_ids=ids)
        series = selectors.sparkline_series(snapshot=snapshot, model_ids=ids, days=TREND_DAYS)
        anomalies = anomalies_for(model_ids=ids, snapshot=snapshot, profile=profile)
        for obs in observations:
            obs.tags = tags.get(obs.model_id, [])
            obs.spark = series.get(obs.model_id, [])
    return {"page": page, "rows": observations, "profile": profile, "anomalies": anomalies}
