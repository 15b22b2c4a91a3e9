"""A new job: its name, and where its URLs come from (the text box, a .txt file or OSS)."""

from __future__ import annotations

import unicodedata
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from prefetch_ui.planning.url_lists import (
    MAX_URL_FILE_BYTES,
    OssUrlError,
    UrlFileError,
    UrlListReport,
    check_oss_url,
    check_url_list,
    read_url_file,
)

from ..models import Site

URL_SOURCES = [("text", "the text box"), ("file", "a .txt file"), ("oss", "an OSS object")]
_SOURCE_FIELDS = ("source", "urls_text", "url_file", "oss_url")


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
        choices=URL_SOURCES,
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
                "class": "url-list",
                "data-source": "text",
                "aria-label": "URLs, one per line",
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
                "aria-label": "A .txt file of URLs",
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
                "aria-label": "The OSS object's URL",
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
                    cleaned.get("oss_url") or "", max_length=settings.PREFETCH_MAX_URL_LENGTH
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
            text,
            site_domain=self.site.name,
            max_urls=settings.PREFETCH_MAX_URLS_PER_JOB,
            max_url_length=settings.PREFETCH_MAX_URL_LENGTH,
        )
        if self.report.problem:
            self.add_error(field, self.report.problem)

    def source_errors(self) -> list[str]:
        """The messages about the URLs only: what "Check URLs" shows (not a name left for later)."""
        return [str(error) for field in _SOURCE_FIELDS for error in self.errors.get(field, [])]
