"""Service accounts: made by an admin with chosen rights, unable to log in with a password, acting
only through their tokens (never beyond their rights), listed, and disabled at once."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from prefetch_ui.api.models import ApiToken, ServiceAccount
from prefetch_ui.api.selectors import token_scopes
from prefetch_ui.incidents.models import Incident
from prefetch_ui.prefetch.models import Operation, PlanStatus
from prefetch_ui.web.permissions import OPERATORS_GROUP
from tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

LIST = "/api/service-accounts/"


@pytest.fixture
def admin_client(db: None) -> Client:
    """A staff member who is an operator too (may give every right)."""
    admin = User.objects.create_user("ada", password="admin-pass-123", is_staff=True)
    admin.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def staff_client(db: None) -> Client:
    """A staff member who may not operate."""
    staff = User.objects.create_user("sam", password="staff-pass-123", is_staff=True)
    client = Client()
    client.force_login(staff)
    return client


def _account(admin_client: Client, name: str, rights: str) -> ServiceAccount:
    response = admin_client.post(LIST, {"name": name, "rights": rights})
    assert response.status_code == 302, response.content.decode()[:500]
    return ServiceAccount.objects.select_related("user").get(user__username=name)


def _token(
    admin_client: Client, account: ServiceAccount, scopes: list[str], name: str = "am"
) -> tuple[int, str]:
    page = reverse("api-service-account", args=[account.pk])
    form_token = re.search(
        r'name="form_token" value="([0-9a-f]{24})"', admin_client.get(page).content.decode()
    )
    assert form_token is not None
    response = admin_client.post(
        page, {"name": name, "scopes": scopes, "expires_in_days": 30, "form_token": form_token.group(1)}
    )
    body = response.content.decode()
    secret = (
        body.split('data-testid="token-secret">', 1)[1].split("<", 1)[0]
        if response.status_code == 201
        else body
    )
    return response.status_code, secret


def test_only_admins_manage_service_accounts(operator_client: Client, viewer_client: Client) -> None:
    for client in (operator_client, viewer_client):
        assert client.get(LIST).status_code == 403
        assert client.post(LIST, {"name": "bot", "rights": "operator"}).status_code == 403
    assert Client().get(LIST).status_code == 302  # to the login
    assert not ServiceAccount.objects.exists()


def test_an_operator_account_acts_through_its_token_and_is_audited_as_such(admin_client: Client) -> None:
    account = _account(admin_client, "deploy-bot", "operator")
    assert not account.user.has_usable_password()
    assert not account.user.check_password("") and not account.user.check_password("deploy-bot")
    listed = admin_client.get(LIST).content.decode()
    assert "deploy-bot" in listed and "operator" in listed
    status, secret = _token(admin_client, account, ["read", "operate"], name="ci")
    assert status == 201
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    response = Client().post(
        f"/api/v1/plans/{plan.esa_id}/stop", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 202
    assert Operation.objects.get().requested_via == "token ci of deploy-bot"
    operations = Client().get(
        f"/api/v1/jobs/{plan.job.esa_id}/operations", headers={"Authorization": f"Bearer {secret}"}
    )
    assert [item["requested_by"] for item in operations.json()["items"]] == ["token ci of deploy-bot"]
    # The secret is shown once: not on the account's page after.
    assert (
        secret.split("_", 2)[2]
        not in admin_client.get(reverse("api-service-account", args=[account.pk])).content.decode()
    )


def test_disabling_an_account_stops_its_tokens_at_once(admin_client: Client) -> None:
    account = _account(admin_client, "grafana", "viewer")
    _, secret = _token(admin_client, account, ["read"])
    headers = {"Authorization": f"Bearer {secret}"}
    assert Client().get("/api/v1/sites", headers=headers).status_code == 200
    response = admin_client.post(reverse("api-service-account-switch", args=[account.pk, "disable"]))
    assert response.status_code == 302
    refused = Client().get("/api/v1/sites", headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (401, "token_invalid")
    assert "disabled" in admin_client.get(LIST).content.decode()
    admin_client.post(reverse("api-service-account-switch", args=[account.pk, "enable"]))
    assert Client().get("/api/v1/sites", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("rights", "given", "refused"),
    [
        ("viewer", {"read"}, {"operate", "incidents"}),
        ("incidents", {"read", "incidents"}, {"operate"}),
        ("operator", {"read", "operate", "incidents"}, set()),
    ],
)
def test_an_accounts_tokens_never_exceed_its_rights(
    admin_client: Client, rights: str, given: set[str], refused: set[str]
) -> None:
    account = _account(admin_client, f"bot-{rights}", rights)
    status, _ = _token(admin_client, account, sorted(given))
    assert status == 201
    assert token_scopes(token=ApiToken.objects.select_related("user").get()) == given
    for scope in refused:
        status, page = _token(admin_client, account, [scope], name=f"x-{scope}")
        assert status == 400 and "You cannot give a token a scope you do not hold" in page


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "This field is required."),
        ("Has Spaces", "lower-case letters"),
        ("bot\x00", "Null characters are not allowed."),
        ("olga", "is taken"),
        ("b" * 65, "at most 64 characters"),
    ],
)
def test_a_bad_account_is_refused_and_nothing_made(
    admin_client: Client, operator: User, name: str, error: str
) -> None:
    response = admin_client.post(LIST, {"name": name, "rights": "viewer"})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not ServiceAccount.objects.exists()


def test_a_revoked_service_token_is_refused(admin_client: Client) -> None:
    account = _account(admin_client, "pagerduty", "viewer")
    _, secret = _token(admin_client, account, ["read"])
    token = ApiToken.objects.get()
    admin_client.post(reverse("api-service-account-token-revoke", args=[account.pk, token.pk]))
    assert Client().get("/api/v1/sites", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_the_tokens_page_leads_admins_to_service_accounts(
    admin_client: Client, operator_client: Client
) -> None:
    assert 'data-testid="service-accounts-link"' in admin_client.get("/api/tokens/").content.decode()
    assert 'data-testid="service-accounts-link"' not in operator_client.get("/api/tokens/").content.decode()


def test_an_admin_gives_no_rights_they_do_not_hold(staff_client: Client) -> None:
    """This admin may not operate: an operator account would be a way round that."""
    for rights in ("operator", "incidents"):
        response = staff_client.post(LIST, {"name": f"bot-{rights}", "rights": rights})
        assert response.status_code == 400
        assert "You cannot give a service account rights you do not hold." in response.content.decode()
    assert not ServiceAccount.objects.exists()


def test_an_incidents_account_holds_through_the_api_and_operates_nothing(admin_client: Client) -> None:
    """The alerting tool's account: it may hold and resume (the incidents router), never start or stop."""
    account = _account(admin_client, "pager", "incidents")
    status, secret = _token(admin_client, account, ["read", "incidents"], name="oncall")
    assert status == 201
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    bearer = {"Authorization": f"Bearer {secret}"}
    held = Client().post(
        "/api/v1/incidents/hold",
        {"site_id": plan.job.site.esa_id, "reason": "origin 5xx"},
        content_type="application/json",
        headers=bearer,
    )
    assert held.status_code == 201, held.content
    assert Incident.objects.get().held_via == "token oncall of pager"
    stop = Client().post(f"/api/v1/plans/{plan.esa_id}/stop", headers=bearer)
    assert stop.status_code == 403 and stop.json()["code"] == "scope_missing"
    assert not Operation.objects.exists()
