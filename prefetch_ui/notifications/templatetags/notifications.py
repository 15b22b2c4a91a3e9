"""`{% job_deadline_form job %}`: the deadline form on a job's page. A template tag, so that the
job page (prefetch) shows it without prefetch's code importing this app."""

from __future__ import annotations

from typing import Any

from django import template

from prefetch_ui.prefetch.models import Job

from ..forms import JobDeadlineForm
from ..selectors import job_deadline

register = template.Library()


@register.inclusion_tag("notifications/_job_deadline.html", takes_context=True)
def job_deadline_form(context: template.Context, job: Job) -> dict[str, Any]:
    deadline = job_deadline(job_id=job.pk)
    form = JobDeadlineForm(initial={"deadline": deadline.deadline if deadline else None})
    return {
        "job": job,
        "deadline": deadline,
        "form": form,
        "csrf_token": context.get("csrf_token"),
        "perms": context.get("perms"),
    }
