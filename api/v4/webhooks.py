"""/api/v4/webhooks: an organization's webhook subscriptions and their delivery log.

Every endpoint needs an API key (401 `authentication_required` without one)
and sees only the key's organization: another organization's subscription
or delivery is a 404, as if it did not exist. Answers are never cached
(`Cache-Control: no-store`) and never go through the response cache. Bodies
are JSON; token authentication means no CSRF token is asked for.

The signing secret (`whsec_…`) is in the answer to a create or a rotation,
and nowhere else, ever.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers as fields
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from api.access import caller_for, plan_required
from api.errors import ApiError, invalid_parameter
from api.shared import iso_time
from registry.cache_policy import NO_STORE
from registry.models import Organization
from webhooks import selectors, services
from webhooks.models import Delivery, DeliveryAttempt, EventType, Subscription

from . import cursors
from .params import choice_param, int_param, reject_unknown
from .schema import errors, page_of
from .webhook_bodies import (
    ATTEMPTS_SHOWN,
    DELIVERY_ID,
    MAX_ID,
    SUBSCRIPTION_ID,
    DeliveryDetail,
    DeliveryQuery,
    DeliveryRow,
    Recovered,
    RecoverRequest,
    SecretRotated,
    SubscriptionChange,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionRow,
    TestSent,
)

DELIVERY_ORDER = cursors.Order(
    field="created_at", descending=True, tie_field="id", tie_descending=True, kind=str
)
DELIVERY_FILTERS = ("subscription", "status", "event_type", "msg_id", "since", "until")
TAGS = ["webhooks"]


# --- Who is asking, and what they may see ----------------------------------------------


def organization_of(request: Request) -> Organization:
    """The API key's organization, or 401: webhooks belong to an organization."""
    caller = caller_for(request)
    if caller.organization_id is None:
        raise ApiError(
            code="authentication_required",
            message="Webhooks belong to an organization: send its API key "
            "(Authorization: Bearer mb_…).",
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Organization.objects.select_related("plan").get(pk=caller.organization_id)


def _id(raw: str | int) -> int | None:
    """A path's id as a number; None when no row can have it (so: not found)."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        return None
    return int(text)


def _subscription(organization: Organization, subscription_id: str | int) -> Subscription:
    found = None
    if (pk := _id(subscription_id)) is not None:
        found = Subscription.objects.filter(pk=pk, organization=organization).first()
    if found is None:
        raise ApiError(
            code="not_found",
            message=f"No webhook subscription {subscription_id}.",
            status_code=status.HTTP_404_NOT_FOUND,
        )
    return found


def _delivery(organization: Organization, delivery_id: str | int) -> Delivery:
    found = None
    if (pk := _id(delivery_id)) is not None:
        found = (
            Delivery.objects.select_related("event", "subscription")
            .filter(pk=pk, subscription__organization=organization)
            .first()
        )
    if found is None:
        raise ApiError(
            code="not_found",
            message=f"No webhook delivery {delivery_id}.",
            status_code=status.HTTP_404_NOT_FOUND,
        )
    return found


def no_store(view):
    """Webhook answers are for their caller only, now: no cache may keep them."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = NO_STORE
        return response

    return wrapper


def _body(request: Request, serializer_class: type[fields.Serializer], *, partial=False) -> dict:
    """The JSON body, validated; unknown members are refused like unknown parameters."""
    data = request.data
    if not isinstance(data, dict):
        raise ApiError(code="invalid_body", message="The body must be a JSON object.", fields={})
    unknown = sorted(set(data) - set(serializer_class().fields))
    if unknown:
        raise ApiError(
            code="unknown_parameter",
            message=f"Unknown member(s) {', '.join(unknown)} in the body.",
            fields={name: ["unknown member"] for name in unknown},
        )
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _refused(exc: ValidationError) -> ApiError:
    fields_ = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
    return ApiError(
        code="invalid_parameter", message="The request has invalid fields.", fields=fields_
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _time_param(request: Request, name: str) -> datetime | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise invalid_parameter(name, "must be given once")
    raw = values[0] if values else ""
    if raw == "":
        return None
    try:
        # In UTC, as the database compares it: a time at the edge of the
        # calendar with an offset would leave datetime's range there.
        return _aware(datetime.fromisoformat(raw)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid_parameter(
            name, "must be an ISO 8601 time, e.g. 2026-03-01T12:00:00Z"
        ) from None


def _msg_id(request: Request) -> str | None:
    found = request.query_params.get("msg_id") or None
    most = Delivery._meta.get_field("msg_id").max_length
    if found and len(found) > most:
        raise invalid_parameter("msg_id", f"must be at most {most} characters")
    return found


# --- What the answers hold -------------------------------------------------------------


def subscription_row(sub: Subscription) -> dict:
    return {
        "id": sub.pk,
        "url": sub.url,
        "description": sub.description,
        "event_types": list(sub.event_types),
        "active": sub.is_active,
        "created_at": iso_time(sub.created_at),
        "last_success_at": iso_time(sub.last_success_at),
        "failing_since": iso_time(sub.failing_since),
        "disabled_at": iso_time(sub.disabled_at),
        "disabled_reason": sub.disabled_reason or None,
        "previous_secret_expires_at": iso_time(sub.previous_secret_expires_at),
    }


def delivery_row(delivery: Delivery) -> dict:
    return {
        "id": delivery.pk,
        "msg_id": delivery.msg_id,
        "subscription": delivery.subscription_id,
        "event": {
            "id": delivery.event_id,
            "type": delivery.event.type,
            "created_at": iso_time(delivery.event.created_at),
        },
        "sequence": delivery.sequence,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso_time(delivery.next_attempt_at),
        "created_at": iso_time(delivery.created_at),
        "finished_at": iso_time(delivery.finished_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error or None,
    }


def attempt_row(attempt: DeliveryAttempt) -> dict:
    return {
        "number": attempt.number,
        "started_at": iso_time(attempt.started_at),
        "url": attempt.url,
        "address": attempt.address or None,
        "request_headers": attempt.request_headers,
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "response_excerpt": attempt.response_body,
        "succeeded": attempt.succeeded,
        "error_class": attempt.error_class or None,
        "error": attempt.error or None,
    }


# --- Subscriptions -----------------------------------------------------------------------


@no_store
@extend_schema(
    methods=["GET"],
    operation_id="webhook_subscriptions_list",
    summary="The organization's webhook subscriptions",
    responses={200: SubscriptionList, **errors(400, 401)},
    tags=TAGS,
)
@extend_schema(
    methods=["POST"],
    operation_id="webhook_subscriptions_create",
    summary="Register an endpoint; the answer holds its signing secret, shown only once",
    request=SubscriptionCreate,
    responses={201: SubscriptionCreated, **errors(400, 401, 403)},
    tags=TAGS,
)
@api_view(["GET", "POST"])
def subscriptions(request: Request) -> Response:
    """List the organization's subscriptions, or register a new one."""
    organization = organization_of(request)
    reject_unknown(request, ())
    if request.method == "GET":
        rows = [subscription_row(s) for s in selectors.subscriptions_for(organization=organization)]
        return Response(
            {"count": len(rows), "limit": organization.plan.webhook_endpoints, "results": rows}
        )
    body = _body(request, SubscriptionCreate)
    try:
        subscription, secret = services.subscription_create(
            organization=organization,
            url=body["url"],
            event_types=list(body["event_types"]),
            description=body["description"],
        )
    except ValidationError as exc:
        raise _refused(exc) from None
    except services.PlanLimitExceeded as exc:
        _refuse_over_limit(request, exc.limit)
    return Response(
        {**subscription_row(subscription), "secret": secret}, status=status.HTTP_201_CREATED
    )


def _refuse_over_limit(request: Request, limit: int) -> None:
    feature = f"More than {limit} webhook endpoint{'s' if limit != 1 else ''}"
    plan_required(caller_for(request), feature=feature, test=lambda p: p.webhook_endpoints > limit)
    # The caller's plan (held for a moment by the gate) was raised since: say it plainly.
    raise ApiError(
        code="plan_required",
        message=f"{feature} needs a plan that allows more; delete one first.",
        status_code=status.HTTP_403_FORBIDDEN,
    )


@no_store
@extend_schema(
    methods=["GET"],
    operation_id="webhook_subscriptions_retrieve",
    summary="One webhook subscription",
    parameters=[SUBSCRIPTION_ID],
    responses={200: SubscriptionRow, **errors(400, 401, 404)},
    tags=TAGS,
)
@extend_schema(
    methods=["PATCH"],
    operation_id="webhook_subscriptions_update",
    summary="Change its URL, event types, description, or pause/resume it",
    parameters=[SUBSCRIPTION_ID],
    request=SubscriptionChange,
    responses={200: SubscriptionRow, **errors(400, 401, 404)},
    tags=TAGS,
)
@extend_schema(
    methods=["DELETE"],
    operation_id="webhook_subscriptions_destroy",
    summary="Remove it, with its deliveries and their log",
    parameters=[SUBSCRIPTION_ID],
    responses={204: OpenApiResponse(description="Deleted."), **errors(400, 401, 404)},
    tags=TAGS,
)
@api_view(["GET", "PATCH", "DELETE"])
def subscription(request: Request, subscription_id: str) -> Response:
    """One subscription: read, change, or delete it."""
    organization = organization_of(request)
    reject_unknown(request, ())
    sub = _subscription(organization, subscription_id)
    if request.method == "DELETE":
        services.subscription_delete(subscription=sub)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        body = _body(request, SubscriptionChange, partial=True)
        try:
            with transaction.atomic():
                services.subscription_update(
                    subscription=sub,
                    url=body.get("url"),
                    event_types=list(body["event_types"]) if "event_types" in body else None,
                    description=body.get("description"),
                )
                if "active" in body and body["active"] != sub.is_active:
                    services.subscription_set_active(
                        subscription=sub, active=body["active"], reason="paused through the API"
                    )
        except ValidationError as exc:
            raise _refused(exc) from None
        sub.refresh_from_db()
    return Response(subscription_row(sub))


@no_store
@extend_schema(
    operation_id="webhook_subscriptions_rotate_secret",
    summary="A new signing secret, shown once; the old one keeps signing for an overlap",
    parameters=[SUBSCRIPTION_ID],
    request=None,
    responses={200: SecretRotated, **errors(400, 401, 404)},
    tags=TAGS,
)
@api_view(["POST"])
def rotate_secret(request: Request, subscription_id: str) -> Response:
    """Rotate the secret: both sign until `previous_secret_expires_at`, then only the new one."""
    organization = organization_of(request)
    reject_unknown(request, ())
    sub = _subscription(organization, subscription_id)
    secret = services.subscription_rotate_secret(subscription=sub)
    return Response(
        {
            "id": sub.pk,
            "secret": secret,
            "previous_secret_expires_at": iso_time(sub.previous_secret_expires_at),
            "overlap_hours": settings.WEBHOOK_ROTATION_OVERLAP_HOURS,
        }
    )


@no_store
@extend_schema(
    operation_id="webhook_subscriptions_test",
    summary="Send a webhook.test event to this endpoint now",
    parameters=[SUBSCRIPTION_ID],
    request=None,
    responses={202: TestSent, **errors(400, 401, 404)},
    tags=TAGS,
)
@api_view(["POST"])
def send_test(request: Request, subscription_id: str) -> Response:
    """Queue a webhook.test delivery (whatever event types it asked for); 400 if it is paused."""
    organization = organization_of(request)
    reject_unknown(request, ())
    sub = _subscription(organization, subscription_id)
    try:
        # Atomic, so that a refusal (a paused endpoint) leaves no event behind.
        with transaction.atomic():
            delivery = services.event_send_test(subscription=sub)
    except ValidationError as exc:
        raise _refused(exc) from None
    return Response(
        {"delivery_id": delivery.pk, "msg_id": delivery.msg_id, "status": delivery.status},
        status=status.HTTP_202_ACCEPTED,
    )


@no_store
@extend_schema(
    operation_id="webhook_subscriptions_recover",
    summary="Send again everything since a time that has not been delivered",
    parameters=[SUBSCRIPTION_ID],
    request=RecoverRequest,
    responses={200: Recovered, **errors(400, 401, 404)},
    tags=TAGS,
)
@api_view(["POST"])
def recover(request: Request, subscription_id: str) -> Response:
    """Bulk recovery: failed deliveries since `since` start again, waiting ones are due now."""
    organization = organization_of(request)
    reject_unknown(request, ())
    sub = _subscription(organization, subscription_id)
    since = _aware(_body(request, RecoverRequest)["since"])
    recovery = services.deliveries_recover(subscription=sub, since=since)
    return Response(
        {"since": iso_time(since), "reopened": recovery.reopened, "hastened": recovery.hastened}
    )


# --- The delivery log -------------------------------------------------------------------


@no_store
@extend_schema(
    operation_id="webhook_deliveries_list",
    summary="The delivery log, newest first, a page at a time",
    parameters=[DeliveryQuery],
    responses={200: page_of("DeliveryPage", DeliveryRow()), **errors(400, 401, 403, 404)},
    tags=TAGS,
)
@api_view(["GET"])
def deliveries(request: Request) -> Response:
    """The organization's deliveries, newest first, filtered, by cursor."""
    organization = organization_of(request)
    reject_unknown(request, (*DELIVERY_FILTERS, "limit", "cursor"))
    limit = cursors.page_limit(request, caller_for(request), what="deliveries")
    sub = None
    if request.query_params.get("subscription"):
        sub_id = int_param(request, "subscription", default=0, low=1, high=MAX_ID)
        sub = _subscription(organization, sub_id)
    since, until = _time_param(request, "since"), _time_param(request, "until")
    if since and until and since > until:
        raise invalid_parameter("until", "must not be before 'since'")
    rows = selectors.deliveries_log(
        organization=organization,
        subscription=sub,
        status=choice_param(request, "status", choices=("", *Delivery.Status.values), default=""),
        event_type=choice_param(request, "event_type", choices=("", *EventType.values), default=""),
        msg_id=_msg_id(request),
        since=since,
        until=until,
    )
    count = rows.count()
    response = Response()
    page, urls = cursors.paginate(
        request,
        response,
        rows,
        order=DELIVERY_ORDER,
        binding={"organization": organization.pk},
        limit=limit,
        key=lambda d: (d.created_at, d.pk),
    )
    response.data = {
        "count": count,
        "limit": limit,
        **urls,
        "results": [delivery_row(d) for d in page.items],
    }
    return response


@no_store
@extend_schema(
    operation_id="webhook_deliveries_retrieve",
    summary="One delivery: the event it carries and every attempt made",
    parameters=[DELIVERY_ID],
    responses={200: DeliveryDetail, **errors(400, 401, 404)},
    tags=TAGS,
)
@api_view(["GET"])
def delivery(request: Request, delivery_id: str) -> Response:
    """A delivery with its attempts: headers sent (signature included), status, latency."""
    organization = organization_of(request)
    reject_unknown(request, ())
    found = _delivery(organization, delivery_id)
    log = found.log.order_by("-started_at", "-pk")[:ATTEMPTS_SHOWN]
    return Response(
        {
            **delivery_row(found),
            "data": found.event.data,
            "log": [attempt_row(a) for a in log],
        }
    )


@no_store
@extend_schema(
    operation_id="webhook_deliveries_redeliver",
    summary="Send a delivery again, with the same webhook-id",
    parameters=[DELIVERY_ID],
    request=None,
    responses={202: DeliveryRow, **errors(400, 401, 404)},
    tags=TAGS,
)
@api_view(["POST"])
def redeliver(request: Request, delivery_id: str) -> Response:
    """A new round of attempts for one delivery (left alone while it is being sent)."""
    organization = organization_of(request)
    reject_unknown(request, ())
    found = services.delivery_redeliver(delivery=_delivery(organization, delivery_id))
    return Response(delivery_row(found), status=status.HTTP_202_ACCEPTED)


# Under /api/v4/webhooks/ (api/v4/urls.py includes them).
urlpatterns = [
    path("subscriptions", subscriptions, name="webhook-subscriptions"),
    path("subscriptions/<str:subscription_id>", subscription, name="webhook-subscription"),
    path(
        "subscriptions/<str:subscription_id>/rotate-secret",
        rotate_secret,
        name="webhook-rotate-secret",
    ),
    path("subscriptions/<str:subscription_id>/test", send_test, name="webhook-test"),
    path("subscriptions/<str:subscription_id>/recover", recover, name="webhook-recover"),
    path("deliveries", deliveries, name="webhook-deliveries"),
    path("deliveries/<str:delivery_id>", delivery, name="webhook-delivery"),
    path("deliveries/<str:delivery_id>/redeliver", redeliver, name="webhook-redeliver"),
]
