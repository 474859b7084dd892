"""Server pages of model families: the rollups of the latest snapshot, and one
family's trend with its members.

They follow the other pages (snapshots.views): a cached body inside a shell
that says how old the snapshot is.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string

from . import family_selectors as families
from . import selectors
from .views import PAGE_SIZE, TREND_DAYS, _page, _page_number, _window


def family_list(request: HttpRequest) -> HttpResponse:
    snapshot = selectors.latest_snapshot()

    def body() -> dict:
        context: dict = {"snapshot": snapshot, **_window(snapshot)}
        if snapshot is not None:
            rollups = list(families.family_rollups(snapshot=snapshot))
            series = families.family_sparklines(
                snapshot=snapshot, family_ids=[r.family_id for r in rollups], days=TREND_DAYS
            )
            for row in rollups:
                row.spark = series.get(row.family_id, [])
            context["rollups"] = rollups
        return {
            "title": "Model families · Modelboard",
            "body": render_to_string("snapshots/families.html", context),
        }

    return _page(request, snapshot=snapshot, key=("families",), body=body)


def family_detail(request: HttpRequest, slug: str) -> HttpResponse:
    snapshot = selectors.latest_snapshot()
    number = _page_number(request)

    def body() -> dict:
        family = families.family_by_slug(slug=slug)
        if family is None:
            raise Http404(f"There is no family called {slug}.")
        context: dict = {"snapshot": snapshot, "family": family, **_window(snapshot)}
        if snapshot is not None:
            history = families.family_history(family=family, snapshot=snapshot, days=TREND_DAYS)
            page = Paginator(
                families.family_members(family=family, snapshot=snapshot), PAGE_SIZE
            ).get_page(number)
            context.update(
                rollup=families.family_rollup(family=family, snapshot=snapshot),
                downloads=[(p.taken_at, p.downloads) for p in history],
                likes=[(p.taken_at, p.likes) for p in history],
                members=[(p.taken_at, p.members) for p in history],
                page=page,
                rows=list(page.object_list),
            )
        return {
            "title": f"{family.name} family · Modelboard",
            "body": render_to_string("snapshots/family.html", context),
        }

    return _page(request, snapshot=snapshot, key=("family", slug, number), body=body)
