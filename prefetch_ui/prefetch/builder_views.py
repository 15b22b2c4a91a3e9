"""The batch plan builder: rows with time pickers, a generator, a live preview, one submission."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from .models import ACTIVE_OPERATION_STATUSES, UNFINISHED_PLAN_STATUSES, Job, Operation, OperationKind, Plan
from .permissions import require_operator
from .plan_builder import BuilderForm, BuilderRow, blank_form, check_row, new_row_id, parse_form
from .plan_math import GeneratorError, PlanDraft, Window, finish_by, preview, spread
from .services import creates
from .timezones import SESSION_KEY, LocalTimeError, parse_local_input
from .views import HtmxHttpRequest


def _remaining(job: Job) -> int:
    return max(0, job.url_count - job.url_submitted)


def _form_from_refusal(job: Job, operation_id: str) -> BuilderForm | None:
    """The rows ESA refused in a batch, with its reasons, to fix and send again (only those)."""
    if not re.fullmatch(r"[0-9]{1,18}", operation_id):
        return None
    operation = Operation.objects.filter(
        pk=int(operation_id), job=job, kind=OperationKind.PLANS_CREATE
    ).first()
    if operation is None:
        return None
    form = blank_form(now=timezone.now())
    form.rows = []
    outcomes = operation.result.get("rows", {})
    for row in operation.params.get("rows", []):
        outcome = outcomes.get(row["row"], {})
        if outcome.get("status") != "refused":
            continue
        start, end = datetime.fromisoformat(row["start_time"]), datetime.fromisoformat(row["end_time"])
        fixed = BuilderRow(
            new_row_id(),
            form.to_local(start),
            form.to_local(end),
            str(row["interval"]),
            str(row["slice_len"]),
            esa_message=str(outcome.get("message", "")),
        )
        check_row(fixed, form.zone)
        form.rows.append(fixed)
    return form if form.rows else None


def _render(request: HtmxHttpRequest, job: Job, form: BuilderForm, **extra: object) -> HttpResponse:
    context = {"job": job, "form": form, "remaining": _remaining(job), **extra}
    if request.htmx:
        response = render(request, "prefetch/plan_builder.html#builder", context)
        # After the swap settles: a plain HX-Trigger fires before it, and the preview would read the old rows.
        response["HX-Trigger-After-Settle"] = "builder-changed"
        return response
    return render(request, "prefetch/plan_builder.html", context)


def plan_builder(request: HtmxHttpRequest, job_esa_id: str) -> HttpResponse:
    """GET: an empty builder (or the refused rows of a batch, `?fix=<operation>`); POST: act on it."""
    require_operator(request)
    job = get_object_or_404(Job.objects.select_related("site"), esa_id=job_esa_id)
    if request.method == "GET":
        form = _form_from_refusal(job, request.GET.get("fix", "")) or blank_form(now=timezone.now())
        return _render(request, job, form)
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    form = parse_form(request.POST, request.POST.getlist("row"))
    if form.zone is not None:
        request.session[SESSION_KEY] = form.zone_name  # the zone chosen here is the operator's zone
    action = request.POST.get("action", "")
    extra: dict[str, object] = {}
    if action == "add":
        form.rows.append(_following_row(form))
    elif action.startswith("remove:"):
        form.rows = [row for row in form.rows if row.id != action.removeprefix("remove:")]
    elif action.startswith("duplicate:"):
        index = next(
            (i for i, row in enumerate(form.rows) if row.id == action.removeprefix("duplicate:")), None
        )
        if index is not None:
            twin = form.rows[index].copy(new_row_id())
            check_row(twin, form.zone)
            form.rows.insert(index + 1, twin)
    elif action == "generate":
        try:
            # Added after the rows already there: generating never throws away what was typed.
            form.rows += _generated_rows(request, job, form)
        except (GeneratorError, LocalTimeError, ValueError) as error:
            extra["generator_error"] = str(error)
    elif action == "submit":
        _refuse_past_starts(form, now=timezone.now())
        if not form.rows:
            extra["submit_error"] = "Add at least one plan."
        elif (
            Operation.objects.filter(target_esa_id=form.form_token, kind=OperationKind.PLANS_CREATE)
            .exclude(status__in=ACTIVE_OPERATION_STATUSES)
            .exists()
        ):
            extra["submit_error"] = (
                "This batch was already sent to ESA; open Add plans again for new plans "
                "(refused ones: use “Fix and send the refused plans again” on the job page)."
            )
        elif form.valid:
            creates.plans_create_request(
                user=request.user, job=job, form_token=form.form_token, plans=form.specs()
            )
            target = reverse("job-detail", args=[job.esa_id])
            return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
        else:
            extra["submit_error"] = "Nothing was sent: fix the rows marked below."
    return _render(request, job, form, **extra)


# A plan typed a moment ago may start "now"; more than this in the past is a mistake.
PAST_START_GRACE = timedelta(minutes=1)


def _refuse_past_starts(form: BuilderForm, *, now: datetime) -> None:
    """The preview warns about a start in the past; sending one is refused (ESA would run it at once)."""
    for row in form.rows:
        if row.draft is not None and row.draft.start < now - PAST_START_GRACE:
            row.errors["start"] = (
                f"The start is in the past ({form.to_local(row.draft.start).replace('T', ' ')} "
                f"{form.zone_name}); ESA would run it at once. Move it to the future."
            )
            row.draft = None


def _following_row(form: BuilderForm) -> BuilderRow:
    """A new row that starts where the last one ends, at the same pace."""
    last = form.rows[-1] if form.rows else None
    if last is None or last.draft is None:
        return blank_form(now=timezone.now()).rows[0]
    start = last.draft.end + timedelta(minutes=1)
    row = BuilderRow(
        new_row_id(),
        form.to_local(start),
        form.to_local(start + (last.draft.end - last.draft.start)),
        last.interval,
        last.slice_len,
    )
    check_row(row, form.zone)
    return row


def _generated_rows(request: HtmxHttpRequest, job: Job, form: BuilderForm) -> list[BuilderRow]:
    zone = form.zone
    if zone is None:
        raise GeneratorError("Choose a known time zone first.")
    post = request.POST

    def moment(name: str, label: str) -> datetime:
        try:
            return parse_local_input(post.get(name, ""), zone, label=label)
        except LocalTimeError as error:
            raise GeneratorError(str(error)) from None

    def number(name: str, label: str) -> int:
        text = post.get(name, "").strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise GeneratorError(f"{label} must be a whole number below 1,000,000,000.")
        return int(text)

    interval = number("gen_interval", "The interval")
    if interval > settings.PREFETCH_MAX_INTERVAL:
        raise GeneratorError(f"The interval must be at most {settings.PREFETCH_MAX_INTERVAL} seconds.")
    drafts: list[PlanDraft]
    if post.get("gen_mode") == "finish_by":
        drafts = finish_by(
            remaining_urls=_remaining(job),
            start=moment("gen_start", "The start"),
            deadline=moment("gen_deadline", "The deadline"),
            max_urls_per_minute=number("gen_rate", "The rate"),
            interval=interval,
            max_slice_len=settings.PREFETCH_MAX_SLICE_LEN,
        )
    else:
        drafts = spread(
            remaining_urls=_remaining(job),
            start=moment("gen_start", "The start"),
            end=moment("gen_end", "The end"),
            plans=min(number("gen_plans", "The number of plans"), 50),
            interval=interval,
            max_slice_len=settings.PREFETCH_MAX_SLICE_LEN,
        )
    rows = []
    for draft in drafts:
        row = BuilderRow(
            new_row_id(),
            form.to_local(draft.start),
            form.to_local(draft.end),
            str(draft.interval),
            str(draft.slice_len),
        )
        check_row(row, zone)
        rows.append(row)
    return rows


@require_POST
def plan_builder_preview(request: HtmxHttpRequest, job_esa_id: str) -> HttpResponse:
    """The live preview of what the rows would do, for the rows that are valid."""
    require_operator(request)
    job = get_object_or_404(Job.objects.select_related("site"), esa_id=job_esa_id)
    form = parse_form(request.POST, request.POST.getlist("row"))
    valid = [row for row in form.rows if row.draft is not None]
    others = [
        Window(
            plan.start_time, plan.end_time, f"plan {plan.esa_id[:8]}… of “{plan.job.name}” ({plan.status})"
        )
        for plan in Plan.objects.filter(
            job__site=job.site, status__in=UNFINISHED_PLAN_STATUSES
        ).select_related("job")
        if plan.start_time and plan.end_time
    ]
    result = preview(
        [row.draft for row in valid if row.draft is not None],
        remaining_urls=_remaining(job),
        now=timezone.now(),
        others=others,
        labels=[f"row {form.rows.index(row) + 1}" for row in valid],
    )
    previews = dict(zip((row.id for row in valid), result.rows, strict=True))
    lines = [
        {"number": index + 1, "row": row, "preview": previews.get(row.id)}
        for index, row in enumerate(form.rows)
    ]
    return render(
        request,
        "prefetch/plan_builder.html#preview",
        {"job": job, "form": form, "batch": result, "lines": lines},
    )
