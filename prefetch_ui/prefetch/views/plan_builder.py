"""The batch plan builder: rows with time pickers, a generator, a live preview, one submission."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from prefetch_ui.core.parameters import repeatable
from prefetch_ui.planning.plan_math import GeneratorError, PlanDraft, preview
from prefetch_ui.web.display_zone import display_zone
from prefetch_ui.web.htmx import HtmxHttpRequest, redirect_to, render_page
from prefetch_ui.web.permissions import operator_required

from ..forms import BuilderForm, BuilderRow, PlanGeneratorForm, new_row_id, times_moved_to_zone
from ..holds import holds
from ..models import Job
from ..selectors.estimates import batch_estimate, site_hold
from ..selectors.plan_builder import (
    RefusedRow,
    batch_quota_check,
    job_open_plan_drafts,
    plans_create_refused_rows,
    site_open_plan_windows,
)
from ..selectors.statuses import job_remaining_urls
from ..services.creates import FormAlreadySentError, plans_create_request


@repeatable("row")  # the ids of the rows, in order
@require_http_methods(["GET", "POST"])
@operator_required
def plan_builder(request: HtmxHttpRequest, job_esa_id: str) -> HttpResponse:
    """GET: an empty builder (or the refused rows of a batch, `?fix=<operation>`); POST: act on it.

    Every POST carries the whole builder; an action changes the rows, and the builder is rendered
    again from them. The zone chosen here applies to this builder only, not to other pages.
    """
    job = get_object_or_404(Job.objects.select_related("site__limits"), esa_id=job_esa_id)
    now = timezone.now()
    if request.method == "GET":
        refused = plans_create_refused_rows(job=job, operation_id=request.GET.get("fix", ""))
        form = _form_from_refused(refused, now=now) if refused else BuilderForm.blank(now=now)
        return _render(request, job, form, PlanGeneratorForm(zone=form.zone))
    action = request.POST.get("action", "")
    data = times_moved_to_zone(request.POST)
    form = BuilderForm.from_post(data, request.POST.getlist("row"), now=now if action == "submit" else None)
    generator = PlanGeneratorForm(data, zone=form.zone)
    plans_on_job = job.plans.count()
    errors: dict[str, str] = {}
    if action == "add":
        errors["submit_error"] = form.size_error(plans_on_job=plans_on_job, adding=1)
        if not errors["submit_error"]:
            form.rows.append(_following_row(form, now=now))
    elif action.startswith("remove:"):
        form.rows = [row for row in form.rows if row.id != action.removeprefix("remove:")]
    elif action.startswith("duplicate:"):
        errors["submit_error"] = form.size_error(plans_on_job=plans_on_job, adding=1)
        index = next(
            (i for i, row in enumerate(form.rows) if row.id == action.removeprefix("duplicate:")), None
        )
        if index is not None and not errors["submit_error"]:
            twin = form.rows[index].copy(new_row_id())
            twin.check(form.zone)
            form.rows.insert(index + 1, twin)
    elif action == "generate":
        errors["generator_error"] = _generate(job, form, generator, plans_on_job=plans_on_job, now=now)
    elif action == "submit":
        hold = holds().hold_refusal(job.site)
        errors["submit_error"] = hold or _submit_error(form, plans_on_job=plans_on_job)
        if not errors["submit_error"]:
            try:
                plans_create_request(
                    user=request.user, job=job, form_token=form.form_token, plans=form.specs()
                )
            except FormAlreadySentError:
                errors["submit_error"] = (
                    "This batch was already sent to ESA; open Add plans again for new plans "
                    "(refused ones: use “Fix and send the refused plans again” on the job page)."
                )
            else:
                return redirect_to(request, reverse("job-detail", args=[job.esa_id]))
    form.rows_error = form.size_error(plans_on_job=plans_on_job)
    return _render(request, job, form, generator, **{key: value for key, value in errors.items() if value})


def _submit_error(form: BuilderForm, *, plans_on_job: int) -> str:
    if not form.rows:
        return "Add at least one plan."
    if size_error := form.size_error(plans_on_job=plans_on_job):
        return f"Nothing was sent: {size_error}"
    return "" if form.valid else "Nothing was sent: fix the rows marked below."


def _generate(
    job: Job, form: BuilderForm, generator: PlanGeneratorForm, *, plans_on_job: int, now: datetime
) -> str:
    """Add rows for what the job has left after its open plans and the rows already here; or say why not."""
    unplanned = _unplanned(job, form, now=now)
    remaining = job_remaining_urls(job)
    if remaining and not unplanned:
        # The job has URLs left, but every one of them has a plan: say so, in the hint's terms,
        # not "no URLs left" (the hint above says how many remain).
        by = (
            "the job's open plans"
            if not any(row.draft for row in form.rows)
            else "the job's open plans and the rows above"
        )
        return f"Nothing to generate: {by} will submit all its {remaining} remaining URLs."
    try:
        # Added after the rows already there: generating never throws away what was typed.
        drafts = generator.drafts(urls=unplanned)
    except GeneratorError as error:
        return str(error)
    if size_error := form.size_error(plans_on_job=plans_on_job, adding=len(drafts)):
        return f"Nothing was generated: {size_error}"
    form.rows += [form.row_from_draft(draft) for draft in drafts]
    return ""


def _unplanned(job: Job, form: BuilderForm, *, now: datetime) -> int:
    """The job's remaining URLs that neither its open plans nor the builder's valid rows will submit."""
    return preview(
        [row.draft for row in form.rows if row.draft is not None],
        remaining_urls=job_remaining_urls(job),
        now=now,
        scheduled=job_open_plan_drafts(job),
    ).left_over


def _form_from_refused(refused: list[RefusedRow], *, now: datetime) -> BuilderForm:
    """The rows ESA refused in a batch, with its reasons, to fix and send again (only those)."""
    form = BuilderForm.blank(now=now)
    form.rows = [
        form.row_from_draft(
            PlanDraft(row.start, row.end, row.interval, row.slice_len), esa_message=row.message
        )
        for row in refused
    ]
    return form


def _following_row(form: BuilderForm, *, now: datetime) -> BuilderRow:
    """A new row that starts a minute after the last valid row ends, at its length and pace."""
    last = next((row for row in reversed(form.rows) if row.draft is not None), None)
    if last is None or last.draft is None:
        return BuilderForm.blank(now=now).rows[0]
    start = last.draft.end + timedelta(minutes=1)
    return form.row_from_draft(
        PlanDraft(
            start, start + (last.draft.end - last.draft.start), last.draft.interval, last.draft.slice_len
        )
    )


def _render(
    request: HtmxHttpRequest, job: Job, form: BuilderForm, generator: PlanGeneratorForm, **errors: str
) -> HttpResponse:
    context: dict[str, object] = {"job": job, "form": form, "generator": generator, **errors}
    if not request.htmx:
        # The hint above the builder is only in the whole page, not in the fragment htmx swaps.
        remaining = job_remaining_urls(job)
        scheduled = preview(
            (), remaining_urls=remaining, now=timezone.now(), scheduled=job_open_plan_drafts(job)
        ).scheduled_urls
        context |= {"remaining": remaining, "scheduled": scheduled, "unscheduled": remaining - scheduled}
        # Said before anything is typed, not only when the plans are sent and refused.
        context["hold_refusal"] = holds().hold_refusal(job.site)
    response = render_page(request, "prefetch/plan_builder.html", context, fragment="builder")
    if request.htmx:
        # After the swap settles: a plain HX-Trigger fires before it, and the preview would read the old rows.
        response["HX-Trigger-After-Settle"] = "builder-changed"
    return response


@repeatable("row")
@require_POST
@operator_required
def plan_builder_preview(request: HtmxHttpRequest, job_esa_id: str) -> HttpResponse:
    """The live preview of what the rows would do, for the rows that are valid."""
    job = get_object_or_404(Job.objects.select_related("site__limits"), esa_id=job_esa_id)
    form = BuilderForm.from_post(times_moved_to_zone(request.POST), request.POST.getlist("row"))
    valid = [row for row in form.rows if row.draft is not None]
    drafts = [row.draft for row in valid if row.draft is not None]
    now = timezone.now()
    result = preview(
        drafts,
        remaining_urls=job_remaining_urls(job),
        now=now,
        others=site_open_plan_windows(job.site),
        labels=[f"row {form.rows.index(row) + 1}" for row in valid],
        scheduled=job_open_plan_drafts(job),
        zone=display_zone(),
    )
    previews = dict(zip((row.id for row in valid), result.rows, strict=True))
    lines = [
        {"number": index + 1, "row": row, "preview": previews.get(row.id)}
        for index, row in enumerate(form.rows)
    ]
    context = {
        "job": job,
        "form": form,
        "batch": result,
        "lines": lines,
        # What the job page will say of the job once these rows are its plans (`job_estimate`).
        "estimate": batch_estimate(job=job, preview=result, hold=site_hold(job.site)),
        # Said as the rows are typed, before they are sent: a warning, not a refusal.
        "quota": batch_quota_check(job=job, drafts=drafts, now=now),
    }
    return render(request, "prefetch/plan_builder.html#preview", context)
