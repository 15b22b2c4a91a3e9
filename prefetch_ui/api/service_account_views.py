"""The service accounts pages (/api/service-accounts/), for admins (staff or superusers): the list
with a form for a new account, and each account's page with its tokens (made there, shown once)
and a switch to disable or enable it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from prefetch_ui.core.parameters import repeatable

from .models import ServiceAccount, ServiceRights
from .selectors import user_scopes
from .service_accounts import (
    ServiceAccountRefused,
    can_manage_service_accounts,
    service_account_create,
    service_account_disable,
    service_account_enable,
    service_account_list,
    service_account_token_create,
    service_account_token_revoke,
    service_account_tokens,
)
from .views import token_form_handled


class ServiceAccountForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="What the audit log shows, e.g. “alertmanager”.")
    rights = forms.ChoiceField(choices=ServiceRights.choices, widget=forms.RadioSelect, initial="viewer")


def _admin_only(request: HttpRequest) -> None:
    if not can_manage_service_accounts(request.user):
        raise PermissionDenied("Only admins (staff) manage service accounts.")


@require_http_methods(["GET", "POST"])
def service_account_list_page(request: HttpRequest) -> HttpResponse:
    """Every service account, and a form for a new one."""
    _admin_only(request)
    form = ServiceAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = service_account_create(
                admin=request.user,  # type: ignore[arg-type]  # _admin_only let only users in
                name=form.cleaned_data["name"],
                rights=form.cleaned_data["rights"],
            )
        except ServiceAccountRefused as refusal:
            form.add_error(refusal.field, str(refusal))
        else:
            messages.success(
                request, f"Service account “{account.user.username}” created: make its tokens here."
            )
            return HttpResponseRedirect(reverse("api-service-account", args=[account.pk]))
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "accounts": service_account_list()}
    return render(request, "api/service_accounts.html", context, status=status)


@require_http_methods(["GET", "POST"])
@repeatable("scopes")
def service_account_page(request: HttpRequest, account_id: int) -> HttpResponse:
    """One service account: its tokens, a form for a new one (shown once), disable or enable."""
    _admin_only(request)
    account = get_object_or_404(ServiceAccount.objects.select_related("user"), pk=account_id)
    form, created, already, status = token_form_handled(
        request, make=lambda fields: service_account_token_create(account=account, **fields)
    )
    context = {
        "account": account,
        "form": form,
        "created": created,
        "already": already,
        "tokens": service_account_tokens(account=account),
        "account_scopes": sorted(user_scopes(account.user)),
    }
    return render(request, "api/service_account.html", context, status=status)


@require_POST
def service_account_switch(request: HttpRequest, account_id: str, action: str) -> HttpResponse:
    """Disable (its tokens stop at once) or enable a service account."""
    _admin_only(request)
    account = get_object_or_404(ServiceAccount.objects.select_related("user"), pk=account_id)
    if action == "disable":
        service_account_disable(account=account)
        messages.success(request, f"“{account.user.username}” disabled: its tokens are refused from now on.")
    else:
        service_account_enable(account=account)
        messages.success(request, f"“{account.user.username}” enabled: its usable tokens work again.")
    return HttpResponseRedirect(reverse("api-service-account", args=[account.pk]))


@require_POST
def service_account_token_revoke_view(request: HttpRequest, account_id: int, token_id: int) -> HttpResponse:
    _admin_only(request)
    account = get_object_or_404(ServiceAccount.objects.select_related("user"), pk=account_id)
    if service_account_token_revoke(account=account, token_id=token_id):
        messages.success(request, "Token revoked: calls with it are refused from now on.")
    else:
        messages.info(request, "This token was revoked already.")
    return HttpResponseRedirect(reverse("api-service-account", args=[account.pk]))
