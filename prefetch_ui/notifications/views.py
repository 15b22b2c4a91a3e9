"""The notification pages (operators only): channels and their subscriptions, the deliveries with
"send again", a channel's "send a test"; and the deadline form of a job's page. Thin: the services
act, the selectors read. No page ever shows a channel's URL or secret, except a webhook secret
just made, in the answer that made it."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from prefetch_ui.prefetch.models import Job
from prefetch_ui.web.permissions import operator_required

from .forms import ChannelForm, JobDeadlineForm
from .models import Channel, ChannelKind, DeliveryStatus
from .selectors import channel_address, channel_list, delivery_page
from .services.channels import (
    channel_create,
    channel_delete,
    channel_secret_rotate,
    channel_update,
    job_deadline_set,
)
from .services.outbox import channel_test_send, delivery_send_again


def _rows(channels: list[Channel]) -> list[tuple[Channel, str]]:
    return [(channel, channel_address(channel)) for channel in channels]


@operator_required
@require_http_methods(["GET", "POST"])
def channel_list_page(request: HttpRequest) -> HttpResponse:
    """Every channel, and a form for a new one."""
    form = ChannelForm(request.POST or None, initial={"enabled": True})
    made_secret = ""
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            created, made_secret = channel_create(
                user=request.user if isinstance(request.user, User) else None,
                name=data["name"],
                kind=data["kind"],
                url=data["url"],
                recipients=data["recipients"],
                secret=data["secret"],
                events=data["events"],
                sites=list(data["sites"]),
                enabled=data["enabled"],
            )
            form = ChannelForm(initial={"enabled": True})
            status = 201
        else:
            status = 400
    return render(
        request,
        "notifications/channel_list.html",
        {"form": form, "rows": _rows(list(channel_list())), "created": created, "made_secret": made_secret},
        status=status,
    )


@operator_required
@require_http_methods(["GET", "POST"])
def channel_detail_page(request: HttpRequest, channel_id: int) -> HttpResponse:
    """One channel: its subscription to change, its secret to rotate, a test to send."""
    channel = get_object_or_404(Channel.objects.prefetch_related("sites"), pk=channel_id)
    initial = {
        "name": channel.name,
        "kind": channel.kind,
        "recipients": channel.recipients,
        "events": channel.events,
        "sites": list(channel.sites.all()),
        "enabled": channel.enabled,
    }
    form = ChannelForm(request.POST or None, initial=initial, editing=True)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            channel_update(channel=channel, changes=form.cleaned_data, sites=list(form.cleaned_data["sites"]))
            messages.success(request, "Channel saved.")
            return HttpResponseRedirect(reverse("notification-channel", args=[channel.pk]))
        status = 400
    return render(
        request,
        "notifications/channel_detail.html",
        {
            "channel": channel,
            "address": channel_address(channel),
            "form": form,
            "is_webhook": channel.kind == ChannelKind.WEBHOOK,
            "deliveries": delivery_page(channel_id=channel.pk),
            "made_secret": "",
        },
        status=status,
    )


@operator_required
@require_POST
def channel_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Send a test message to the channel, through the outbox."""
    channel = get_object_or_404(Channel, pk=channel_id)
    channel_test_send(channel=channel, by=request.user.get_username())
    messages.success(request, "Test message queued: its delivery is listed below.")
    return HttpResponseRedirect(reverse("notification-channel", args=[channel.pk]))


@operator_required
@require_POST
def channel_rotate(request: HttpRequest, channel_id: int) -> HttpResponse:
    """A new signing secret for a webhook channel, shown in this answer only."""
    channel = get_object_or_404(
        Channel.objects.prefetch_related("sites"), pk=channel_id, kind=ChannelKind.WEBHOOK
    )
    made = channel_secret_rotate(channel=channel)
    form = ChannelForm(
        initial={
            "name": channel.name,
            "kind": channel.kind,
            "events": channel.events,
            "enabled": channel.enabled,
        },
        editing=True,
    )
    return render(
        request,
        "notifications/channel_detail.html",
        {
            "channel": channel,
            "address": channel_address(channel),
            "form": form,
            "is_webhook": True,
            "deliveries": delivery_page(channel_id=channel.pk),
            "made_secret": made,
        },
    )


@operator_required
@require_POST
def channel_remove(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=channel_id)
    channel_delete(channel=channel)
    messages.success(request, f"Channel “{channel.name}” removed.")
    return HttpResponseRedirect(reverse("notification-channels"))


@operator_required
def delivery_list_page(request: HttpRequest) -> HttpResponse:
    """Every delivery, newest first: status, attempts, the receiver's answer, "send again"."""
    status = request.GET.get("status", "")
    if status not in DeliveryStatus.values:
        status = ""
    return render(
        request,
        "notifications/delivery_list.html",
        {
            "deliveries": delivery_page(status=status, number=request.GET.get("page", 1)),
            "status": status,
            "statuses": DeliveryStatus.choices,
            "query": urlencode({"status": status}) if status else "",
        },
    )


@operator_required
@require_POST
def delivery_again(request: HttpRequest, delivery_id: int) -> HttpResponse:
    if not delivery_send_again(delivery_id=delivery_id):
        raise Http404("No such delivery, or it is being sent right now.")
    messages.success(request, "The delivery will be sent again.")
    back = request.POST.get("next", "")
    safe = back.startswith("/") and "\x00" not in back
    if not (safe and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})):
        back = reverse("notification-deliveries")
    return HttpResponseRedirect(back)


@operator_required
@require_POST
def job_deadline(request: HttpRequest, job_esa_id: str) -> HttpResponse:
    """Set or clear the job's deadline (its page's small form)."""
    job = get_object_or_404(Job, esa_id=job_esa_id)
    form = JobDeadlineForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The deadline is not a date and time.")
    else:
        deadline = form.cleaned_data["deadline"]
        user = request.user if isinstance(request.user, User) else None
        job_deadline_set(job=job, deadline=deadline, user=user)
        messages.success(request, "Deadline set." if deadline else "Deadline cleared.")
    return HttpResponseRedirect(reverse("job-detail", args=[job.esa_id]))
