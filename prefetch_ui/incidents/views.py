"""Incident pages: hold (with its confirmation), the incident's live progress, retry, resume."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from prefetch_ui.core.parameters import page_number, repeatable
from prefetch_ui.prefetch.models import Site
from prefetch_ui.web.htmx import (
    VERSION_PARAMETER,
    Drawn,
    HtmxHttpRequest,
    live_region,
    poll_query,
    poll_token,
    redirect_to,
    render_page,
)
from prefetch_ui.web.permissions import can_operate, operator_required
from prefetch_ui.web.request_ids import id_number

from . import selectors
from .forms import PACE_AS_IT_WAS, PACE_RAMP, HoldForm, ResumeForm, resume_caps
from .models import Incident, IncidentStatus
from .services.holds import hold_preview, hold_request
from .services.resumes import IncidentStateError, RampRefused, resume_preview, resume_request
from .services.steps import steps_retry_failed

PLANS_PER_PAGE = 100


def _scope(request: HtmxHttpRequest) -> Site | None:
    """The site a hold is about (`site` = its ESA id, in the address or the form), or None for every site."""
    named = {raw for raw in (request.GET.get("site", ""), request.POST.get("site", "")) if raw}
    if len(named) > 1:
        raise BadRequest(
            "The address and the form name two different sites: hold one at a time. Nothing was held."
        )
    raw = named.pop() if named else ""
    if not raw:
        return None
    esa_id = id_number(raw)
    site = None if esa_id is None else Site.objects.filter(esa_id=esa_id).first()
    if site is None:
        raise Http404(f"There is no site “{raw[:40]}” on this dashboard.")
    return site


@require_GET
def incident_list(request: HtmxHttpRequest) -> HttpResponse:
    page = Paginator(selectors.incident_list(), 50).get_page(page_number(request))
    return render_page(
        request, "incidents/incident_list.html", {"page": page, "can_operate": can_operate(request.user)}
    )


@require_http_methods(["GET", "POST"])
@operator_required
def hold_new(request: HtmxHttpRequest) -> HttpResponse:
    """GET: what a hold of the scope will do, with counts; POST: hold it."""
    site = _scope(request)
    # A POST is a hold even with an empty form (the reason is optional): never a page in its place.
    form = HoldForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        incident, created = hold_request(user=request.user, site=site, reason=form.cleaned_data["reason"])
        if not created:
            messages.info(request, f"{incident.scope_label} is already held by incident #{incident.pk}.")
        return redirect_to(request, reverse("incident-detail", args=[incident.pk]))
    context = {"site": site, "preview": hold_preview(site=site), "form": form}
    return render_page(request, "incidents/hold_confirm.html", context, status=400 if form.errors else 200)


@require_GET
def incident_detail(request: HtmxHttpRequest, incident_id: int) -> HttpResponse:
    """The incident's page, or with htmx its live region; for a poll, 204 when nothing changed
    since the token it shows, the progress and the rows of its page that changed when the list
    kept its shape (swapped out of band), else the whole region; 286 once nothing is working."""
    # The incident first: its version is read before the data it describes.
    incident = get_object_or_404(
        Incident.objects.select_related("site", "held_by", "resumed_by"), pk=incident_id
    )
    working = incident.status in (IncidentStatus.HOLDING, IncidentStatus.RESUMING)
    # Only asked while there is work to do: "no worker" matters only then.
    workers = selectors.incident_workers_consuming() if working else None
    token = selectors.incident_token(incident, workers=workers)
    shown = poll_token(request)
    since = selectors.incident_token_version(shown)
    whole = since is None or not incident.layout_version <= since < incident.version

    def draw() -> Drawn:
        context: dict[str, object] = {
            "incident": incident,
            "progress": selectors.incident_progress(incident),
            "failures": selectors.incident_failures(incident),
            "working": working,
            "workers": workers,
            "can_operate": can_operate(request.user),
            "oob": not whole,
        }
        if not whole:
            number = page_number(request)
            context["rows"] = selectors.incident_changed_rows(
                incident=incident, since=since or 0, page_number=number, per_page=PLANS_PER_PAGE
            )
        else:
            plans = Paginator(selectors.incident_held_plans(incident), PLANS_PER_PAGE)
            page = plans.get_page(page_number(request))
            number = page.number
            context["page"] = page
            context["rows"] = page.object_list
        context["poll_query"] = poll_query(request, page=number, **{VERSION_PARAMETER: token})
        return Drawn(context, unfinished=working)

    return live_region(
        request,
        "incidents/incident_detail.html",
        region="incident-live",
        changes="incident-changes",
        unchanged=working and shown == token,
        whole=whole,
        draw=draw,
    )


@require_POST
@operator_required
def incident_retry(request: HtmxHttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=incident_id)
    count = steps_retry_failed(incident=incident)
    if count:
        messages.info(request, f"Sending {count} failed plan(s) of incident #{incident.pk} again.")
    else:
        messages.error(
            request, f"Incident #{incident.pk} has no failed plans to send again; nothing was sent."
        )
    return redirect_to(request, reverse("incident-detail", args=[incident.pk]))


# The preview's checkbox follows a hidden "0" of the same name: unticked sends 0, ticked 0 then 1.
@repeatable("reschedule")
@require_http_methods(["GET", "POST"])
@operator_required
def incident_resume(request: HtmxHttpRequest, incident_id: int) -> HttpResponse:
    """GET: what the resume will do to each held plan and to each site's origin (as it was, or
    under a ramp of the caps given); POST: resume."""
    incident = get_object_or_404(Incident.objects.select_related("site"), pk=incident_id)
    posted = request.method == "POST"
    data = request.POST if posted else request.GET
    form = ResumeForm(
        # An unticked checkbox sends nothing: an empty POST is a resume without rescheduling.
        data if posted else None,
        initial={
            "reschedule": data.get("reschedule", "1") != "0",
            "pace": data.get("pace", PACE_RAMP),
        },
    )
    caps, errors = resume_caps(data)
    pace = data.get("pace") or PACE_RAMP
    if pace not in (PACE_RAMP, PACE_AS_IT_WAS):
        errors.append(f"“{pace[:20]}” is no way to pace a resume: ramp or as_it_was.")
        pace = PACE_RAMP
    valid = posted and form.is_valid()
    reschedule = form.cleaned_data["reschedule"] if valid else bool(form["reschedule"].value())
    ramp = caps if pace == PACE_RAMP else None
    preview = resume_preview(incident=incident, reschedule=reschedule, caps=ramp)
    shown = {load.site.esa_id for load in preview.loads}
    errors += [f"No plan of site {site} is put back: it takes no cap." for site in sorted(set(caps) - shown)]
    shown_at = _shown_at(data.get("shown_at", ""), errors) if posted else None
    if valid and not errors:
        try:
            resumed = resume_request(
                user=request.user,
                incident=incident,
                reschedule=reschedule,
                reason=form.cleaned_data["reason"],
                caps=ramp,
                shown_at=shown_at,
            )
        except RampRefused as error:
            errors.append(str(error))
        except IncidentStateError as error:
            messages.error(request, str(error))
            return redirect_to(request, reverse("incident-detail", args=[incident.pk]))
        else:
            if resumed.ramp and shown_at is not None and resumed.now != shown_at:
                messages.info(
                    request,
                    "The ramp you confirmed would have started before its ESA calls were made, so it "
                    "was laid out again from now, with the same caps: each plan's window is on this page.",
                )
            return redirect_to(request, reverse("incident-detail", args=[incident.pk]))
    context = {
        "incident": incident,
        "preview": preview,
        "form": form,
        "errors": errors,
        "pace": pace,
        "quota_checks": selectors.resume_quota_checks(preview=preview),
    }
    bad = bool(errors or preview.ramp_errors) or (posted and not valid)
    return render_page(request, "incidents/resume_confirm.html", context, status=400 if bad else 200)


def _shown_at(raw: str, errors: list[str]) -> datetime | None:
    """When the confirmed preview was laid out (the page sends it back); None when not sent."""
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw[:40])
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or len(raw) > 40:
        errors.append(f"“{raw[:40]}” is not the time of a preview; nothing was resumed.")
        return None
    return moment
