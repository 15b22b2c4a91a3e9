"""A new job for a site: a name, and URLs typed, uploaded as a .txt file or kept on OSS.

"Check URLs" shows what would be sent (valid URLs, and each rejected line with its reason) without
touching what was typed; "Create job" checks everything again (the preview is never trusted) and
records a `job_create` operation that a Celery worker carries out. Bad input re-renders the form
with a specific message and creates nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from prefetch_ui.web.htmx import HtmxHttpRequest, redirect_to, render_page
from prefetch_ui.web.permissions import operator_required

from ..forms import FORM_TOKEN, NewJobForm, form_token_or_new
from ..holds import holds
from ..models import OperationStatus, Site
from ..selectors.job_cap import JOB_COUNT_FULL, job_cap_refusal, site_job_cap
from ..services.creates import FormAlreadySentError, job_create_request


@require_http_methods(["GET", "POST"])
@operator_required
def job_new(request: HtmxHttpRequest, site_esa_id: int) -> HttpResponse:
    """GET: an empty form; POST with `check`: the URL report; POST: create the job, or say why not."""
    site = get_object_or_404(Site, esa_id=site_esa_id)
    if request.method == "GET":
        return _render(request, site, NewJobForm(initial={"source": "text"}, site=site))
    # A text box over DATA_UPLOAD_MAX_MEMORY_SIZE never gets here: the CSRF check reads the form
    # first, and Django refuses it there (a 413 saying to upload a file: prefetch_ui.core.views).
    data, files = request.POST, request.FILES
    # "Check URLs" asks with ?check=1 (htmx) or a button named check (no JavaScript).
    checking = bool(request.GET.get("check")) or bool(data.get("check"))
    form = NewJobForm(data, files, site=site)
    valid = form.is_valid()
    form_token = data.get("form_token", "")
    if checking:
        return _render(request, site, form, checking=True, form_token=form_token)
    if not FORM_TOKEN.fullmatch(form_token):
        return _render(
            request,
            site,
            form,
            form_error="This form had no valid token, so it could not be told apart from a second "
            "submit: it has a new one now. Nothing was created; submit it again.",
        )
    if not valid:
        error = "Nothing was created: fix what is marked below."
        return _render(request, site, form, form_token=form_token, form_error=error)
    name = form.cleaned_data["name"]
    try:
        if form.report is not None:
            operation, created = job_create_request(
                user=request.user, site=site, form_token=form_token, name=name, urls=form.report.valid
            )
            what = f"with {_count(len(form.report.valid), 'URL')}"
            if form.report.rejected_count:
                what += f" ({_count(form.report.rejected_count, 'rejected line')} left out)"
        else:
            operation, created = job_create_request(
                user=request.user, site=site, form_token=form_token, name=name, oss_url=form.checked_oss_url
            )
            what = "from the OSS object"
    except FormAlreadySentError as sent:
        return _already_sent(request, site, form, sent)
    if created:
        messages.success(request, f"Creating job “{name}” {what}: it appears below once ESA has it.")
    else:
        messages.info(request, f"Job “{operation.target_label}” is already being created.")
    return redirect_to(request, reverse("site-detail", args=[site.esa_id]))


def _already_sent(
    request: HtmxHttpRequest, site: Site, form: NewJobForm, sent: FormAlreadySentError
) -> HttpResponse:
    """The same form sent again after its create finished (Back, then Create): nothing is sent."""
    first = sent.operation
    if first.status == OperationStatus.SUCCEEDED:
        messages.info(request, f"This form was already submitted: job “{first.target_label}” was created.")
        return redirect_to(request, reverse("site-detail", args=[site.esa_id]))
    # It failed: what was typed stays, with a new token, so sending it again is a deliberate act.
    cap = f" {job_cap_refusal(site_job_cap(site=site))}" if first.error_code == JOB_COUNT_FULL else ""
    return _render(
        request,
        site,
        form,
        form_error=f"This form was sent before and its job was not created ({first.error_code}: "
        f"{first.error_message}).{cap} Nothing more was sent; submit again to try once more.",
    )


def _render(
    request: HtmxHttpRequest,
    site: Site,
    form: NewJobForm,
    *,
    checking: bool = False,
    form_token: str = "",
    form_error: str = "",
) -> HttpResponse:
    context = {
        "site": site,
        "form": form,
        "form_token": form_token_or_new(form_token),
        "form_error": form_error,
        "checking": checking,
        "max_urls": settings.PREFETCH_MAX_URLS_PER_JOB,
        "max_url_length": settings.PREFETCH_MAX_URL_LENGTH,
        # Said up front: a job can be created on a held site, but its plans cannot be added yet.
        "hold_refusal": holds().hold_refusal(site),
    }
    fragment = "url-report" if checking else "job-form"
    return render_page(request, "prefetch/job_new.html", context, fragment=fragment)


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
