"""What the API's writes share (`v1_operations`): finding the target a path names (a 404 naming
the parameter, never a 500), the pages' refusals as API errors, who asks ("token NAME of USER"),
the key of a create, and the 202 answer with the operation."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from ninja import Status

from prefetch_ui.prefetch.forms import new_form_token
from prefetch_ui.prefetch.holds import holds
from prefetch_ui.prefetch.models import Job, Operation, OperationKind, OperationStatus, Plan, Site
from prefetch_ui.prefetch.services import operations
from prefetch_ui.prefetch.services.creates import FormAlreadySentError
from prefetch_ui.web.request_ids import id_number

from .errors import ApiError, ApiErrorOut, EsaErrorOut, not_found
from .idempotency import IDEMPOTENCY_HEADER
from .models import ApiToken
from .operation_schemas import OperationAcceptedOut, operation_out

# What a write returns: the status (202) and the operation, which ninja checks against its schema.
Answer = Status[dict[str, object]]

WRITE_ANSWERS: dict[int, Any] = {
    202: OperationAcceptedOut,
    401: ApiErrorOut,
    403: ApiErrorOut,
    404: ApiErrorOut,
    409: EsaErrorOut,
    413: ApiErrorOut,
    422: ApiErrorOut,
    429: ApiErrorOut,
}
# An ESA job or plan id as the pages take it: printable ASCII without "/", at most 24 characters.
_ESA_ID_MAX = 24


def token_of(request: HttpRequest) -> ApiToken:
    token = getattr(request, "auth", None)
    assert isinstance(token, ApiToken)  # noqa: S101  # TokenAuth let only tokens in
    return token


def owner_of(request: HttpRequest) -> AbstractBaseUser:
    return token_of(request).user


def via_of(request: HttpRequest) -> str:
    """Who asked, as the audit log shows it."""
    token = token_of(request)
    return f"token {token.name} of {token.user.get_username()}"


def _esa_id(raw: str) -> bool:
    return 0 < len(raw) <= _ESA_ID_MAX and raw.isascii() and raw.isprintable() and "/" not in raw


def plan_named(plan_id: str) -> Plan:
    plan = (
        Plan.objects.select_related("job__site").filter(esa_id=plan_id).first() if _esa_id(plan_id) else None
    )
    if plan is None:
        raise not_found(field="plan_id", what="plan")
    return plan


def job_named(job_id: str) -> Job:
    job = Job.objects.select_related("site").filter(esa_id=job_id).first() if _esa_id(job_id) else None
    if job is None:
        raise not_found(field="job_id", what="job")
    return job


def site_named(site_id: str) -> Site:
    number = id_number(site_id)
    site = Site.objects.filter(esa_id=number).first() if number is not None else None
    if site is None:
        raise not_found(field="site_id", what="site")
    return site


def conflict(code: str, message: str, *, field: str | None = None) -> ApiError:
    return ApiError(status=HTTPStatus.CONFLICT, code=code, message=message, field=field)


def invalid(field: str, message: str, *, code: str = "invalid") -> ApiError:
    return ApiError(status=HTTPStatus.UNPROCESSABLE_ENTITY, code=code, message=message, field=field)


def site_not_held(site: Site) -> None:
    """The pages' rule: nothing starts, resets, is edited or added on a site an incident holds."""
    if refusal := holds().hold_refusal(site):
        raise conflict("site_held", refusal, field="site_id")


def site_warnings(site: Site) -> list[str]:
    # The pages only warn of it (prefetch/_site_inactive.html): ESA takes the call, and waits.
    if site.status and site.status != "active":
        return [
            f"site_not_active: {site.name} is {site.status} in ESA, and ESA starts plans only on active "
            "sites: its waiting plans will not start until it is active."
        ]
    return []


def accepted(
    operation: Operation, created: bool, *, site: Site | None = None, warnings: Sequence[str] = ()
) -> Answer:
    operation = Operation.objects.select_related("job", "site", "requested_by").get(pk=operation.pk)
    body = operation_out(operation) | {
        "joined": not created,
        "warnings": [*(site_warnings(site) if site is not None else []), *warnings],
    }
    return Status(HTTPStatus.ACCEPTED, body)


def act(request: HttpRequest, kind: OperationKind, target: Plan | Job) -> Answer:
    operation, created = operations.operation_request(
        user=owner_of(request), kind=kind, target=target, via=via_of(request)
    )
    site = target.job.site if isinstance(target, Plan) else target.site
    return accepted(operation, created, site=site)


def create_key(request: HttpRequest) -> str:
    """The form token of an API create: one per token and Idempotency-Key, else a new one."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return new_form_token()
    return hashlib.sha256(f"api:{token_of(request).pk}:{key}".encode()).hexdigest()[:24]


def already_sent(sent: FormAlreadySentError) -> ApiError:
    first = sent.operation
    if first.status == OperationStatus.SUCCEEDED:
        message = f"This create was done already (operation {first.pk}): nothing more was sent."
    else:
        message = (
            f"This create was sent before and failed (operation {first.pk}: {first.error_code} "
            f"{first.error_message}); nothing more was sent. Send it with a new Idempotency-Key to try again."
        )
    return ApiError(
        status=HTTPStatus.CONFLICT,
        code="already_sent",
        message=message,
        field=IDEMPOTENCY_HEADER,
        extra={
            "operation_id": first.pk,
            "esa_code": (first.error_code or None) if first.request_id else None,
            "esa_request_id": first.request_id or None,
        },
    )


def operation_named(operation_id: str) -> Operation:
    number = id_number(operation_id)
    found = (
        Operation.objects.select_related("job__site", "plan", "site", "requested_by")
        .filter(pk=number)
        .first()
        if number is not None
        else None
    )
    if found is None:
        raise not_found(field="operation_id", what="operation")
    return found
