"""One error format for the whole API.

    {"error": {"code": "invalid_parameter", "message": "…", "fields": {"limit": ["…"]}}}

`code` is for programs, `message` for people, `fields` (present when input
was at fault) names each bad parameter. Bad input is a 4xx, never a 500.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApiError(exceptions.APIException):
    """An error with our machine code, raised from views and selectors' callers."""

    def __init__(
        self,
        *,
        code: str,
        message: str,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        fields: dict[str, list[str]] | None = None,
        extra: dict | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.fields = fields or {}
        self.extra = extra or {}  # more members of the error object, e.g. "latest_snapshot"
        self.headers = headers or {}  # e.g. WWW-Authenticate on a 401


def invalid_parameter(name: str, problem: str) -> ApiError:
    return ApiError(
        code="invalid_parameter",
        message=f"Invalid value for '{name}': {problem}",
        fields={name: [problem]},
    )


def error_body(
    code: str, message: str, fields: dict | None = None, extra: dict | None = None
) -> dict:
    body: dict = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    if extra:
        body.update(extra)
    return {"error": body}


def exception_handler(exc, context):
    if isinstance(exc, ApiError):
        return Response(
            error_body(exc.error_code, exc.message, exc.fields, exc.extra),
            status=exc.status_code,
            headers=exc.headers or None,
        )
    if isinstance(exc, Http404):
        return Response(error_body("not_found", str(exc) or "Not found."), status=404)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        fields = {k: [str(m) for m in v] for k, v in exc.detail.items()}
        response.data = error_body("invalid_parameter", "The request has invalid fields.", fields)
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        detail = getattr(exc, "detail", str(exc))
        response.data = error_body(code if isinstance(code, str) else "error", str(detail))
    return response


# Project-wide handlers (registry/urls.py): under /api/ even a failure outside
# any API view (an unknown prefix, an unexpected exception) answers in the one
# format; the pages keep their HTML.
API_PREFIX = "/api/"


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body("not_found", f"No endpoint at {request.path}."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        message = "Something went wrong on our side; it has been logged."
        return JsonResponse(error_body("server_error", message), status=500)
    return defaults.server_error(request)
