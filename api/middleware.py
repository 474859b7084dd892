"""The API gate in Django's request cycle, for every request under /api/.

Server pages are public and cached, and not gated. v3's bodies are frozen;
the gate only adds headers to them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .gate import admit
from .query import query_refusal

API_PREFIX = "/api/"


class ApiGateMiddleware:
    """Admit (or refuse) API requests, and put X-Plan and the rate-limit headers on the answer.

    An admitted request whose query string no view should read (api.query)
    is refused here too, in the API's error format.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        # Already decided in front of Django (registry.caching) when it ran there.
        admission = admit(request.META)
        refusal = admission.refusal
        if refusal is not None:
            response = HttpResponse(refusal.body, status=refusal.status)
            response["Content-Type"] = refusal.content_type
            for name, value in refusal.headers:
                response[name] = value
        else:
            # What a view may read from the query string is checked once, here.
            response = query_refusal(request) or self.get_response(request)
        for name, value in admission.headers:
            response[name] = value
        return response
