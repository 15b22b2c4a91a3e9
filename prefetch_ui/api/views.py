"""The tokens page (/api/tokens/): a user's own API tokens, made and revoked there. It needs a
login, like every page; the API itself (/api/v1/) takes tokens instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from prefetch_ui.core.parameters import repeatable
from prefetch_ui.prefetch.forms.tokens import new_form_token

from .forms import TokenForm
from .models import ApiToken
from .selectors import token_list, user_scopes
from .service_accounts import can_manage_service_accounts
from .services import CreatedToken, TokenAlreadyMade, TokenRefused, token_create, token_revoke

type TokenMaker = Callable[[dict[str, Any]], CreatedToken]


def token_form_handled(
    request: HttpRequest, *, make: TokenMaker
) -> tuple[TokenForm, CreatedToken | None, ApiToken | None, int]:
    """The new-token form of a page (a user's own tokens, a service account's), read and acted on:
    the form to show (a fresh one after a token is made), the token made (its secret shown in this
    answer only), the token this form made before (sent again: no second token), and the status
    (201 made, 200 shown or already made, 400 refused)."""
    form = TokenForm(request.POST or None, initial={"form_token": new_form_token()})
    if request.method != "POST":
        return form, None, None, 200
    created: CreatedToken | None = None
    already: ApiToken | None = None
    if form.is_valid():
        try:
            created = make(
                {
                    "name": form.cleaned_data["name"],
                    "scopes": form.cleaned_data["scopes"],
                    "expires_in_days": form.cleaned_data["expires_in_days"],
                    "form_token": form.cleaned_data["form_token"],
                }
            )
        except TokenRefused as refusal:
            form.add_error(refusal.field, str(refusal))
        except TokenAlreadyMade as made:
            already = made.token
    if created is None and already is None:
        return form, None, None, 400
    return TokenForm(initial={"form_token": new_form_token()}), created, already, 201 if created else 200


def _user(request: HttpRequest) -> AbstractBaseUser:
    user = request.user
    assert isinstance(user, AbstractBaseUser)  # noqa: S101  # the login middleware let only users in
    return user


@require_http_methods(["GET", "POST"])
@repeatable("scopes")
def token_page(request: HttpRequest) -> HttpResponse:
    """The user's tokens and a form for a new one. A token made here is shown in this answer only."""
    user = _user(request)
    form, created, already, status = token_form_handled(
        request, make=lambda fields: token_create(user=user, **fields)
    )
    return render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "created": created,
            "already": already,
            "tokens": token_list(user=user),
            "user_scopes": sorted(user_scopes(user)),
            "can_manage_service_accounts": can_manage_service_accounts(user),
        },
        status=status,
    )


@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's tokens: calls with it are refused from now on."""
    if not token_revoke(user=_user(request), token_id=token_id):
        raise Http404("You have no such token, or it is already revoked.")
    messages.success(request, "Token revoked: calls with it are refused from now on.")
    return HttpResponseRedirect(reverse("api-tokens"))


@login_not_required
def api_not_found(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other address under /api/v1/: a 404 in the API's shape, not the pages' HTML."""
    return JsonResponse(
        {"code": "not_found", "message": "No such API endpoint: see /api/v1/docs.", "field": None}, status=404
    )
