"""A new job for a site: a name, and URLs typed, uploaded as a .txt file or kept on OSS.

"Check URLs" shows what would be sent (valid URLs, and each rejected line with its reason) without
touching what was typed; "Create job" checks everything again (the preview is never trusted) and
records a `job_create` operation that a Celery worker carries out. Bad input re-renders the form
with a specific message and creates nothing.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from .models import Operation, OperationKind, OperationStatus, Site
from .permissions import require_operator
from .services import creates
from .url_lists import (
    MAX_URL_FILE_BYTES,
    OssUrlError,
    UrlFileError,
    UrlListReport,
    check_oss_url,
    check_url_list,
    read_url_file,
)
from .views import HtmxHttpRequest

# The token a GET puts in the form: a second submit of the same form joins the first operation.
_FORM_TOKEN = re.compile(r"^[0-9a-f]{24}$")
SOURCES = [("text", "the text box"), ("file", "a .txt file"), ("oss", "an OSS object")]
_SOURCE_FIELDS = ("source", "urls_text", "url_file", "oss_url")


def max_urls_per_job() -> int:
    # ESA does not publish its limit; 50,000 is the simulator's default.
    return int(getattr(settings, "PREFETCH_MAX_URLS_PER_JOB", 50_000))


def max_url_length() -> int:
    return int(getattr(settings, "PREFETCH_MAX_URL_LENGTH", 2048))


class NewJobForm(forms.Form):
    """A job's name and where its URLs come from; `clean` checks the URLs of the chosen source."""

    name = forms.CharField(
        max_length=255,
        error_messages={
            "required": "Give the job a name.",
            "max_length": "The name is %(show_value)d characters long; the limit is %(limit_value)d.",
            "null_characters_not_allowed": "The name contains a control character (U+0000); remove it.",
        },
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Spring sale assets"}),
    )
    source = forms.ChoiceField(
        choices=SOURCES,
        error_messages={
            "required": "Choose where the URLs come from.",
            "invalid_choice": "Choose where the URLs come from: the text box, a .txt file or an OSS object.",
        },
    )
    urls_text = forms.CharField(
        required=False,
        strip=False,
        error_messages={"null_characters_not_allowed": "The text box contains a NUL character: paste text."},
        widget=forms.Textarea(
            attrs={
                "rows": 12,
                "spellcheck": "false",
                "placeholder": "https://example.com/index.html\nhttps://example.com/app.js",
                "style": "width: 100%; font-family: ui-monospace, monospace;",
                "data-source": "text",
            }
        ),
    )
    url_file = forms.FileField(
        required=False,
        allow_empty_file=True,  # read_url_file says why an empty file is no good
        # hx-preserve: an htmx re-render of the form keeps the chosen file (a browser cannot refill it).
        widget=forms.FileInput(
            attrs={
                "accept": ".txt,text/plain",
                "id": "url-file",
                "hx-preserve": "true",
                "data-source": "file",
            }
        ),
    )
    oss_url = forms.CharField(
        required=False,
        error_messages={"null_characters_not_allowed": "The OSS URL contains a NUL character."},
        widget=forms.TextInput(
            attrs={
                "placeholder": "https://bucket.oss-cn-hangzhou.aliyuncs.com/urls.txt",
                "data-source": "oss",
            }
        ),
    )

    def __init__(self, *args: Any, site: Site, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.site = site
        self.report: UrlListReport | None = None
        self.checked_oss_url = ""

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if control := next((char for char in name if unicodedata.category(char) == "Cc"), None):
            raise forms.ValidationError(
                f"The name contains a control character (U+{ord(control):04X}); remove it."
            )
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        source = cleaned.get("source")
        if source == "text":
            self._check_text(cleaned.get("urls_text") or "")
        elif source == "file":
            self._check_file(cleaned.get("url_file"))
        elif source == "oss":
            try:
                self.checked_oss_url = check_oss_url(
                    cleaned.get("oss_url") or "", max_length=max_url_length()
                )
            except OssUrlError as error:
                self.add_error("oss_url", str(error))
        return cleaned

    def _check_text(self, text: str) -> None:
        if not text.strip():
            self.add_error("urls_text", "The text box is empty: paste the URLs, one per line.")
        elif len(text.encode()) > MAX_URL_FILE_BYTES:
            self.add_error(
                "urls_text", "The text box holds more than 10 MB: split the list into several jobs."
            )
        else:
            self._check_list("urls_text", text)

    def _check_file(self, upload: UploadedFile[bytes] | None) -> None:
        if upload is None:
            self.add_error("url_file", "Choose a .txt file with the URLs, one per line.")
            return
        # Never more than the limit in memory, whatever was uploaded.
        data = upload.read(MAX_URL_FILE_BYTES + 1)
        try:
            text = read_url_file(data, size=upload.size)
        except UrlFileError as error:
            self.add_error("url_file", str(error))
        else:
            self._check_list("url_file", text)

    def _check_list(self, field: str, text: str) -> None:
        self.report = check_url_list(
            text, site_domain=self.site.name, max_urls=max_urls_per_job(), max_url_length=max_url_length()
        )
        if self.report.problem:
            self.add_error(field, self.report.problem)

    def source_errors(self) -> list[str]:
        """The messages about the URLs only: what "Check URLs" shows (not a name left for later)."""
        return [str(error) for field in _SOURCE_FIELDS for error in self.errors.get(field, [])]


def job_new(request: HtmxHttpRequest, site_esa_id: int) -> HttpResponse:
    """GET: an empty form; POST with `check`: the URL report; POST: create the job, or say why not."""
    require_operator(request)
    site = get_object_or_404(Site, esa_id=site_esa_id)
    if request.method == "GET":
        return _render(request, site, NewJobForm(initial={"source": "text"}, site=site))
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    # "Check URLs" asks with ?check=1 (htmx) or a button named check (no JavaScript).
    checking = bool(request.GET.get("check"))
    try:
        data, files = request.POST, request.FILES
    except RequestDataTooBig:
        # Django refuses a text box over DATA_UPLOAD_MAX_MEMORY_SIZE; a file has its own, larger, limit.
        megabytes = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) / (1024 * 1024)
        return _render(
            request,
            site,
            NewJobForm(initial={"source": "file"}, site=site),
            checking=checking,
            form_error=f"The text box holds more than {megabytes:.3g} MB, more than a form can send: "
            "upload the list as a .txt file (up to 10 MB) instead. Nothing was created.",
        )
    checking = checking or bool(data.get("check"))
    form = NewJobForm(data, files, site=site)
    valid = form.is_valid()
    form_token = data.get("form_token", "")
    if checking:
        return _render(request, site, form, checking=True, form_token=form_token)
    if not _FORM_TOKEN.fullmatch(form_token):
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
    already = Operation.objects.filter(
        kind=OperationKind.JOB_CREATE, target_esa_id=form_token, status=OperationStatus.SUCCEEDED
    ).first()
    if already is not None:
        # The same form sent again after its job was made (Back, then Create): not a second job.
        messages.info(request, f"This form was already submitted: job “{already.target_label}” was created.")
        return _to_site(request, site)
    if form.report is not None:
        operation, created = creates.job_create_request(
            user=request.user, site=site, form_token=form_token, name=name, urls=form.report.valid
        )
        what = f"with {_count(len(form.report.valid), 'URL')}"
        if form.report.rejected_count:
            what += f" ({_count(form.report.rejected_count, 'rejected line')} left out)"
    else:
        operation, created = creates.job_create_request(
            user=request.user, site=site, form_token=form_token, name=name, oss_url=form.checked_oss_url
        )
        what = "from the OSS object"
    if created:
        messages.success(request, f"Creating job “{name}” {what}: it appears below once ESA has it.")
    else:
        messages.info(request, f"Job “{operation.target_label}” is already being created.")
    return _to_site(request, site)


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
        # A valid token is kept through every re-render; a missing or altered one is replaced.
        "form_token": form_token if _FORM_TOKEN.fullmatch(form_token) else secrets.token_hex(12),
        "form_error": form_error,
        "checking": checking,
        "max_urls": max_urls_per_job(),
        "max_url_length": max_url_length(),
    }
    if request.htmx:
        fragment = "url-report" if checking else "job-form"
        return render(request, f"prefetch/job_new.html#{fragment}", context)
    return render(request, "prefetch/job_new.html", context)


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _to_site(request: HtmxHttpRequest, site: Site) -> HttpResponse:
    target = reverse("site-detail", args=[site.esa_id])
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
