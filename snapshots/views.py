"""Server-rendered pages. Each is a view of the latest complete snapshot."""

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from . import selectors

PAGE_SIZE = 50


def leaderboard(request: HttpRequest) -> HttpResponse:
    snapshot = selectors.latest_snapshot()
    page = None
    if snapshot is not None:
        paginator = Paginator(selectors.leaderboard_rows(snapshot=snapshot), PAGE_SIZE)
        page = paginator.get_page(request.GET.get("page"))
    return render(request, "snapshots/leaderboard.html", {"snapshot": snapshot, "page": page})


def model_detail(request: HttpRequest, hub_id: str) -> HttpResponse:
    snapshot = selectors.latest_snapshot()
    view = selectors.model_in_snapshot(hub_id=hub_id, snapshot=snapshot)
    if view is None:
        raise Http404(f"We have not seen a model called {hub_id}.")
    history = selectors.model_recent_observations(model=view.model, limit=30)
    return render(
        request,
        "snapshots/model.html",
        {"snapshot": snapshot, "view": view, "model": view.model, "history": history},
    )
