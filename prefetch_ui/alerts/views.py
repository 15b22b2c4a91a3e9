"""The receiver pages (operators only) and each receiver's address, /hooks/<slug>/ (the sender's
token or signature instead of a login)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from prefetch_ui.web.permissions import operator_required

from .forms import ReceiverEditForm, ReceiverForm, RotateForm, RuleForm
from .models import Receiver
from .selectors import receiver_alert_holds, receiver_deliveries, receiver_list
from .services.deliveries import BODY_LIMIT, delivery_handle
from .services.receivers import (
    Credential,
    ReceiverRefused,
    receiver_create,
    receiver_disable,
    receiver_rotate,
    receiver_update,
    rule_add,
    rule_remove,
)


def _user(request: HttpRequest) -> AbstractBaseUser:
    user = request.user
    assert isinstance(user, AbstractBaseUser)  # noqa: S101  # operator_required let only users in
    return user


@operator_required
def receiver_list_view(request: HttpRequest) -> HttpResponse:
    return render(request, "alerts/receiver_list.html", {"receivers": receiver_list()})


def _detail(
    request: HttpRequest,
    receiver: Receiver,
    *,
    credential: Credential | None = None,
    rule_form: RuleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "receiver": receiver,
        "hook_url": request.build_absolute_uri(reverse("alert-hook", args=[receiver.slug])),
        "rules": receiver.rules.select_related("site").prefetch_related("allowed_sites"),
        "rule_form": rule_form or RuleForm(),
        "rotate_form": RotateForm(),
        "deliveries": receiver_deliveries(receiver=receiver),
        "alert_holds": receiver_alert_holds(receiver=receiver),
        "credential": credential,
    }
    return render(request, "alerts/receiver_detail.html", context, status=status)


@operator_required
@require_http_methods(["GET", "POST"])
def receiver_new_view(request: HttpRequest) -> HttpResponse:
    form = ReceiverForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            credential = receiver_create(
                user=_user(request),
                name=data["name"],
                kind=data["kind"],
                on_resolved=data["on_resolved"],
                resume_cap=data["resume_cap"],
                quiet_minutes=data["quiet_minutes"],
                dry_run=data["dry_run"],
                secret=data["secret"],
                grafana_hmac=data["grafana_hmac"],
            )
        except ReceiverRefused as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            return _detail(request, credential.receiver, credential=credential, status=201)
    status = 400 if request.method == "POST" else 200
    return render(request, "alerts/receiver_form.html", {"form": form, "receiver": None}, status=status)


@operator_required
def receiver_detail_view(request: HttpRequest, receiver_id: int) -> HttpResponse:
    return _detail(request, get_object_or_404(Receiver, pk=receiver_id))


@operator_required
@require_http_methods(["GET", "POST"])
def receiver_edit_view(request: HttpRequest, receiver_id: int) -> HttpResponse:
    receiver = get_object_or_404(Receiver, pk=receiver_id)
    initial = {
        "name": receiver.name,
        "on_resolved": receiver.on_resolved,
        "resume_cap": receiver.resume_cap,
        "quiet_minutes": receiver.quiet_minutes,
        "dry_run": receiver.dry_run,
        "enabled": receiver.enabled,
    }
    form = ReceiverEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            receiver_update(receiver=receiver, **form.cleaned_data)
        except ReceiverRefused as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, "Receiver saved.")
            return HttpResponseRedirect(reverse("alert-receiver", args=[receiver.pk]))
    status = 400 if request.method == "POST" else 200
    return render(request, "alerts/receiver_form.html", {"form": form, "receiver": receiver}, status=status)


@operator_required
@require_POST
def receiver_disable_view(request: HttpRequest, receiver_id: int) -> HttpResponse:
    receiver = get_object_or_404(Receiver, pk=receiver_id)
    receiver_disable(receiver=receiver)
    messages.success(request, "Receiver disabled: its deliveries are refused from now on.")
    return HttpResponseRedirect(reverse("alert-receiver", args=[receiver.pk]))


@operator_required
@require_POST
def receiver_rotate_view(request: HttpRequest, receiver_id: int) -> HttpResponse:
    receiver = get_object_or_404(Receiver, pk=receiver_id)
    form = RotateForm(request.POST)
    secret = form.cleaned_data["secret"] if form.is_valid() else ""
    try:
        credential = receiver_rotate(receiver=receiver, secret=secret)
    except ReceiverRefused as refusal:
        messages.error(request, str(refusal))
        return HttpResponseRedirect(reverse("alert-receiver", args=[receiver.pk]))
    return _detail(request, credential.receiver, credential=credential)


@operator_required
@require_POST
def rule_add_view(request: HttpRequest, receiver_id: int) -> HttpResponse:
    receiver = get_object_or_404(Receiver, pk=receiver_id)
    form = RuleForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            rule_add(
                receiver=receiver,
                alert_name=data["alert_name"],
                labels=data["labels"],
                scope=data["scope"],
                site=data["site"],
                site_label=data["site_label"],
                allowed_sites=list(data["allowed_sites"]),
            )
        except ReceiverRefused as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, "Rule added.")
            return HttpResponseRedirect(reverse("alert-receiver", args=[receiver.pk]))
    return _detail(request, receiver, rule_form=form, status=400)


@operator_required
@require_POST
def rule_remove_view(request: HttpRequest, receiver_id: int, rule_id: int) -> HttpResponse:
    receiver = get_object_or_404(Receiver, pk=receiver_id)
    if not rule_remove(receiver=receiver, rule_id=rule_id):
        raise Http404("This receiver has no such rule.")
    messages.success(request, "Rule removed.")
    return HttpResponseRedirect(reverse("alert-receiver", args=[receiver.pk]))


@csrf_exempt
@login_not_required
def hook_view(request: HttpRequest, slug: str) -> HttpResponse:
    """A receiver's address: the sender's token or signature stands for a login (and for CSRF)."""
    if request.method != "POST":
        refusal = {"code": "method_not_allowed", "message": "Send alerts with POST.", "field": None}
        return JsonResponse(refusal, status=405, headers={"Allow": "POST"})
    # PostgreSQL refuses a NUL in a query: such an address is no receiver's.
    receiver = Receiver.objects.filter(slug=slug).first() if "\x00" not in slug else None
    if receiver is None:
        refusal = {"code": "receiver_unknown", "message": "No receiver has this address.", "field": None}
        return JsonResponse(refusal, status=404)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    # Read no more than the limit and one byte: a larger body is refused without being read whole.
    body = b"" if declared > BODY_LIMIT else request.read(BODY_LIMIT + 1)
    answer = delivery_handle(
        receiver=receiver, body=body, headers=request.headers, declared_size=max(declared, len(body))
    )
    return JsonResponse(answer.body, status=answer.status)
