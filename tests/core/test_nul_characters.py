"""A NUL character anywhere in a request gets a 4xx or a form's message, never a 500.

PostgreSQL refuses NUL in text (SQLite stores it), so a NUL that reaches a query is a server error
there. Every page of the dashboard is fetched with a NUL in each query parameter its forms have (and
the ones views read directly), in each text part of its path, and every form on it is posted with
a NUL in each of its fields in turn. The list of pages must name every route of ours: a new one
fails here until it is added.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from prefetch_ui.alerts.models import Receiver, ReceiverRule, ScopeKind
from prefetch_ui.alerts.services.receivers import receiver_create, rule_add
from prefetch_ui.api.models import ApiToken, ServiceAccount
from prefetch_ui.api.service_accounts import service_account_create
from prefetch_ui.api.services import token_create
from prefetch_ui.incidents.models import HeldPlan, HoldAction, Incident, StepState
from prefetch_ui.notifications.models import Channel, ChannelKind, Delivery, EventKind
from prefetch_ui.notifications.services.channels import channel_create
from prefetch_ui.notifications.services.outbox import event_record
from prefetch_ui.prefetch.models import Operation, OperationKind, OperationStatus
from tests.factories import OperationFactory
from tests.review_estate import ReviewEstate, review_estate_create

pytestmark = pytest.mark.django_db

NUL = "a\x00b"
# Parameters views read from the query string or the body besides their forms' fields.
LOOSE_PARAMETERS = (
    *("page", "poll", "check", "fix", "site", "reschedule", "next", "action", "row", "zone"),
    *("per_page", "status", "name"),  # the API's
)


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)


class _Forms(HTMLParser):
    """The forms of a page, each with its fields' names and default values, as a browser sends them."""

    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self.loose: set[str] = set()  # named controls outside any form (htmx sends those too)
        self._form: Form | None = None
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None

    def _add(self, name: str | None, value: str) -> None:
        if not name:
            return
        if self._form is None:
            self.loose.add(name)
        else:
            self._form.fields.append((name, value))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._form = Form(
                attributes.get("action") or attributes.get("hx-post") or self.page_url,
                (attributes.get("method") or ("post" if "hx-post" in attributes else "get")).lower(),
            )
            self.forms.append(self._form)
        elif tag == "input" and attributes.get("type") not in ("submit", "button", "file", "image"):
            kind = attributes.get("type")
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                return
            self._add(attributes.get("name"), attributes.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "button" and attributes.get("name"):
            self._add(attributes["name"], attributes.get("value", ""))
        elif tag == "textarea":
            self._textarea = attributes.get("name")
        elif tag == "select":
            self._select, self._select_value = attributes.get("name"), None
        elif (
            tag == "option"
            and self._select is not None
            and (self._select_value is None or "selected" in attributes)
        ):
            self._select_value = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None:
            self._add(self._textarea, "")
            self._textarea = None
        elif tag == "select" and self._select is not None:
            self._add(self._select, self._select_value or "")
            self._select = None


def _forms(url: str, html: str) -> _Forms:
    parser = _Forms(url)
    parser.feed(html)
    return parser


def _alert_routes(incident: Incident) -> list[Route]:
    """The alert receiver pages, of a receiver with a rule (made once), and a receiver's address."""
    receiver = Receiver.objects.first()
    if receiver is None:
        assert incident.held_by is not None
        receiver = receiver_create(user=incident.held_by, name="probe", kind="alertmanager").receiver
        rule_add(receiver=receiver, alert_name="", labels="", scope=ScopeKind.EVERY)
    rule = ReceiverRule.objects.filter(receiver=receiver).first()
    assert rule is not None
    pk = receiver.pk
    return [
        Route("alert-receivers", reverse("alert-receivers")),
        Route("alert-receiver-new", reverse("alert-receiver-new")),
        Route("alert-receiver", reverse("alert-receiver", args=[pk])),
        Route("alert-receiver-edit", reverse("alert-receiver-edit", args=[pk])),
        Route("alert-receiver-disable", reverse("alert-receiver-disable", args=[pk])),
        Route("alert-receiver-rotate", reverse("alert-receiver-rotate", args=[pk]), post_only=("secret",)),
        Route("alert-rule-add", reverse("alert-rule-add", args=[pk])),
        Route("alert-rule-remove", reverse("alert-rule-remove", args=[pk, rule.pk])),
        Route("alert-hook", reverse("alert-hook", args=[receiver.slug]), text_segments=(receiver.slug,)),
    ]


def _our_routes() -> set[str]:
    """The names of every route of ours (not the admin's or Django's login pages)."""
    names: set[str] = set()

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name != "admin" and "django.contrib" not in str(pattern.urlconf_name):
                    walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif pattern.name:
                names.add(pattern.name)

    walk(get_resolver().url_patterns, "")
    return names


@dataclass(frozen=True)
class Route:
    name: str
    url: str
    # Path segments that are free text (ESA ids, action names), to put a NUL into.
    text_segments: tuple[str, ...] = ()
    post_only: tuple[str, ...] = ()  # fields of a POST endpoint that no page's form shows


def _routes(
    estate: ReviewEstate, incident: Incident, failed: Operation, token: ApiToken, account: ServiceAccount
) -> list[Route]:
    site, job, plan = estate.site.esa_id, estate.jobs["running"].esa_id, estate.plans["running"].esa_id
    account_token = ApiToken.objects.filter(user=account.user).get()
    return [
        # The API (the probe sends a read token with every request), then the tokens page: its
        # Revoke form, posted, ends that token.
        Route("api-root", reverse("api-v1:api-root")),
        Route("openapi-json", reverse("api-v1:openapi-json")),
        Route("openapi-view", reverse("api-v1:openapi-view")),
        Route("api-sites", reverse("api-v1:api-sites")),
        Route("api-site", reverse("api-v1:api-site", args=[site])),
        Route("api-site-jobs", reverse("api-v1:api-site-jobs", args=[site]), text_segments=(str(site),)),
        Route("api-job", reverse("api-v1:api-job", args=[job])),
        Route("api-job-plans", reverse("api-v1:api-job-plans", args=[job]), text_segments=(job,)),
        Route("api-job-operations", reverse("api-v1:api-job-operations", args=[job]), text_segments=(job,)),
        # The writes (the probe's read token is refused them: 403 before any body is read) and
        # the operation they answer with.
        Route("api-plan-start", reverse("api-v1:api-plan-start", args=[plan]), text_segments=(plan,)),
        Route("api-plan-stop", reverse("api-v1:api-plan-stop", args=[plan]), text_segments=(plan,)),
        Route("api-plan", reverse("api-v1:api-plan", args=[plan]), text_segments=(plan,)),
        Route("api-plan-delete", reverse("api-v1:api-plan-delete", args=[plan]), text_segments=(plan,)),
        Route("api-job-reset", reverse("api-v1:api-job-reset", args=[job]), text_segments=(job,)),
        Route("api-job-delete", reverse("api-v1:api-job-delete", args=[job]), text_segments=(job,)),
        Route("api-job-create", reverse("api-v1:api-job-create", args=[site]), text_segments=(str(site),)),
        Route("api-plans-create", reverse("api-v1:api-plans-create", args=[job]), text_segments=(job,)),
        Route(
            "api-operation",
            reverse("api-v1:api-operation", args=[failed.pk]),
            text_segments=(str(failed.pk),),
        ),
        Route(
            "api-operation-retry",
            reverse("api-v1:api-operation-retry", args=[failed.pk]),
            text_segments=(str(failed.pk),),
        ),
        # The incidents and the leads' views (v1_incidents, v1_reviews).
        Route("api-incidents", reverse("api-v1:api-incidents") + f"?site={site}&status=held"),
        Route("api-incident-hold", reverse("api-v1:api-incident-hold")),
        Route(
            "api-incident",
            reverse("api-v1:api-incident", args=[incident.pk]),
            text_segments=(str(incident.pk),),
        ),
        Route(
            "api-incident-plans",
            reverse("api-v1:api-incident-plans", args=[incident.pk]),
            text_segments=(str(incident.pk),),
        ),
        Route(
            "api-incident-resume-preview",
            reverse("api-v1:api-incident-resume-preview", args=[estate.hold.pk]),
            text_segments=(str(estate.hold.pk),),
        ),
        Route(
            "api-incident-resume",
            reverse("api-v1:api-incident-resume", args=[estate.hold.pk]),
            text_segments=(str(estate.hold.pk),),
        ),
        Route(
            "api-incident-retry",
            reverse("api-v1:api-incident-retry", args=[incident.pk]),
            text_segments=(str(incident.pk),),
        ),
        Route("api-audit", reverse("api-v1:api-audit") + "?actor=olga&kind=plan_stop"),
        Route("api-overview", reverse("api-v1:api-overview")),
        Route("api-forecast", reverse("api-v1:api-forecast")),
        Route("api-limits", reverse("api-v1:api-limits")),
        Route("api-site-limits", reverse("api-v1:api-site-limits", args=[site]), text_segments=(str(site),)),
        Route("api-tokens", reverse("api-tokens")),
        Route("api-token-revoke", reverse("api-token-revoke", args=[token.pk])),
        # Service accounts: the probe's operator is an admin (`service_account`).
        Route("api-service-accounts", reverse("api-service-accounts")),
        Route("api-service-account", reverse("api-service-account", args=[account.pk])),
        Route(
            "api-service-account-switch", reverse("api-service-account-switch", args=[account.pk, "disable"])
        ),
        Route(
            "api-service-account-token-revoke",
            reverse("api-service-account-token-revoke", args=[account.pk, account_token.pk]),
        ),
        Route("healthz", reverse("healthz")),
        Route("home", reverse("home")),
        Route("display-zone", reverse("display-zone"), post_only=("zone", "next")),
        Route("site-detail", reverse("site-detail", args=[site])),
        Route("job-new", reverse("job-new", args=[site])),
        Route("job-detail", reverse("job-detail", args=[job]), text_segments=(job,)),
        Route("plan-builder", reverse("plan-builder", args=[job]), text_segments=(job,)),
        Route(
            "plan-builder-preview",
            reverse("plan-builder-preview", args=[job]),
            text_segments=(job,),
            post_only=("row", "action"),
        ),
        Route("job-action", reverse("job-action", args=[job, "reset"]), text_segments=(job, "reset")),
        Route("plan-edit", reverse("plan-edit", args=[plan]), text_segments=(plan,)),
        Route("plan-action", reverse("plan-action", args=[plan, "stop"]), text_segments=(plan, "stop")),
        Route("operation-retry", reverse("operation-retry", args=[failed.pk]), post_only=("next",)),
        Route("incident-list", reverse("incident-list")),
        Route("hold-new", reverse("hold-new") + f"?site={site}"),
        Route("incident-detail", reverse("incident-detail", args=[incident.pk])),
        Route("incident-retry", reverse("incident-retry", args=[incident.pk])),
        Route("incident-resume", reverse("incident-resume", args=[estate.hold.pk])),
        Route("overview", reverse("overview")),
        Route("timeline", reverse("timeline")),
        Route("audit", reverse("audit")),
        Route("limits", reverse("limits")),
        Route("site-limits", reverse("site-limits", args=[site])),
        Route("site-limits-summary", reverse("site-limits-summary", args=[site])),
        Route("audit-csv", reverse("audit-csv")),
        Route("jobs-csv", reverse("jobs-csv")),
        Route("plans-csv", reverse("plans-csv")),
        Route("readyz", reverse("readyz")),
        Route("metrics", reverse("metrics")),
        # The account pages (prefetch_ui/logins): password reset answers 404 without e-mail set up.
        Route("login", reverse("login")),
        Route("password_change", reverse("password_change")),
        Route("password_change_done", reverse("password_change_done")),
        Route("password_reset", reverse("password_reset")),
        Route("password_reset_done", reverse("password_reset_done")),
        Route("password_reset_confirm", reverse("password_reset_confirm", args=["MQ", "set-password"])),
        Route("password_reset_complete", reverse("password_reset_complete")),
        *_alert_routes(incident),
        # Notifications (prefetch_ui/notifications): the channel's removal last, as it ends the channel.
        *_notification_routes(job),
    ]


def _notification_routes(job: str) -> list[Route]:
    channel = (
        Channel.objects.first()
        or channel_create(
            user=None,
            name="probe",
            kind=ChannelKind.SLACK,
            url="https://hooks.example.com/services/probe",
            events=[EventKind.PLAN_FAILED],
            sites=[],
        )[0]
    )
    if not Delivery.objects.exists():
        event_record(key="probe", kind=EventKind.PLAN_FAILED, title="probe", data={})
    delivery = Delivery.objects.get()
    return [
        Route("notification-channels", reverse("notification-channels")),
        Route("notification-deliveries", reverse("notification-deliveries")),
        Route("notification-delivery-again", reverse("notification-delivery-again", args=[delivery.pk])),
        Route("notification-channel", reverse("notification-channel", args=[channel.pk])),
        Route("notification-channel-test", reverse("notification-channel-test", args=[channel.pk])),
        Route("notification-channel-rotate", reverse("notification-channel-rotate", args=[channel.pk])),
        Route(
            "job-deadline", reverse("job-deadline", args=[job]), text_segments=(job,), post_only=("deadline",)
        ),
        Route("notification-channel-remove", reverse("notification-channel-remove", args=[channel.pk])),
    ]


Fields = dict[str, str] | list[tuple[str, str]]


@dataclass
class Probe:
    """Requests made and the ones that failed, with why."""

    client: Client
    made: int = 0
    failures: list[str] = field(default_factory=list)

    def request(self, method: str, url: str, data: Fields | None = None) -> str:
        self.made += 1
        where = f"{method.upper()} {url!r} {data!r}"
        try:
            if method == "get":
                response = self.client.get(url, headers={"hx-request": "true"} if "poll=" in url else {})
            else:
                body = urlencode(data or [], doseq=True)
                response = self.client.post(url, body, content_type="application/x-www-form-urlencoded")
        except Exception as error:  # a server error, re-raised by the test client
            self.failures.append(f"{where}: {type(error).__name__}: {error}")
            return ""
        # /readyz answers 503 by design when nothing runs (no worker here): that is its answer, not a fault.
        unready = response.status_code == 503 and url.startswith(reverse("readyz"))
        if response.status_code >= 500 and not unready:
            self.failures.append(f"{where}: {response.status_code}")
        # The login wall's redirect carries ?next=; a form sent back to the login page by its own
        # `next` (the zone picker on an account page) is not a logout.
        if response.status_code == 302 and response["Location"].startswith(reverse("login") + "?"):
            self.failures.append(f"{where}: logged out")
        streamed = getattr(response, "streaming_content", None)
        if streamed is not None:
            return b"".join(streamed).decode("utf-8-sig", errors="replace")
        return response.content.decode(errors="replace")


def _with(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [*((key, val) for key, val in parse_qsl(parts.query, keep_blank_values=True) if key != name)]
    return parts._replace(query=urlencode([*query, (name, value)])).geturl()


def _each_with_nul(fields: list[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    for index, (name, _) in enumerate(fields):
        yield [*fields[:index], (name, NUL), *fields[index + 1 :]]


@pytest.fixture
def estate(operator: User) -> tuple[ReviewEstate, Incident, Operation]:
    estate = review_estate_create(now=timezone.now().replace(microsecond=0), held_by=operator)
    # Something in every state a page has a form for: a failed operation (Retry) and an incident
    # with a failed step (Retry the failed) besides the held one (Resume).
    failed = OperationFactory.create(
        kind=OperationKind.PLAN_STOP,
        target_esa_id=estate.plans["running"].esa_id,
        plan=estate.plans["running"],
        job=estate.jobs["running"],
        site=estate.site,
        status=OperationStatus.FAILED,
        error_code="Throttling",
    )
    incident = Incident.objects.create(site=estate.site, status="held", held_by=operator)
    plan = estate.plans["waiting"]
    HeldPlan.objects.create(
        incident=incident,
        plan=plan,
        plan_esa_id=plan.esa_id,
        job_esa_id=plan.job.esa_id,
        site=estate.site,
        label="Catalogue / plan",
        original_status="waiting",
        original_start=plan.start_time,
        original_end=plan.start_time + timedelta(hours=1) if plan.start_time else None,
        interval=60,
        slice_len=5,
        hold_action=HoldAction.PARK,
        state=StepState.FAILED,
        hold_outcome="refused",
    )
    return estate, incident, failed


# Takes no input, and posting it would end the probe's session for every route after it.
NOT_PROBED = frozenset({"logout"})


@pytest.fixture
def api_token(operator: User, operator_client: Client) -> ApiToken:
    """A read token of the operator's, sent by `operator_client` with every request from now on."""
    created = token_create(user=operator, name="probe", scopes=["read"], expires_in_days=1)
    operator_client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {created.secret}"
    return created.token


@pytest.fixture
def service_account(operator: User) -> ServiceAccount:
    """The operator as an admin, and a service account of theirs with a token."""
    operator.is_staff = True
    operator.save(update_fields=["is_staff"])
    account = service_account_create(admin=operator, name="probe-bot", rights="viewer")
    token_create(user=account.user, name="bot", scopes=["read"], expires_in_days=1)
    return account


def test_every_route_of_ours_is_probed(
    estate: tuple[ReviewEstate, Incident, Operation], api_token: ApiToken, service_account: ServiceAccount
) -> None:
    routes = _routes(*estate, api_token, service_account)
    assert {route.name for route in routes} == _our_routes() - NOT_PROBED


def test_a_nul_anywhere_gets_a_4xx_or_a_message_never_a_500(
    estate: tuple[ReviewEstate, Incident, Operation],
    operator_client: Client,
    api_token: ApiToken,
    service_account: ServiceAccount,
) -> None:
    probe = Probe(operator_client)
    for route in _routes(*estate, api_token, service_account):
        page = probe.request("get", route.url)
        forms = _forms(route.url, page)
        names = {name for form in forms.forms for name, _ in form.fields} | forms.loose
        for name in sorted(names | set(LOOSE_PARAMETERS)):
            probe.request("get", _with(route.url, name, NUL))
        for segment in route.text_segments:
            broken = route.url.replace(f"/{segment}/", f"/{quote(NUL)}/", 1)
            probe.request("get", broken)
            probe.request("post", broken, [])
        for form in forms.forms:
            if form.method == "post" and form.action != reverse("logout"):  # the probe stays logged in
                for fields in _each_with_nul(form.fields):
                    probe.request("post", form.action, fields)
        if route.post_only:
            for fields in _each_with_nul([(name, "") for name in route.post_only]):
                probe.request("post", route.url, fields)
    assert probe.made > 200
    assert not probe.failures, "\n".join(probe.failures)


def test_the_admin_and_the_login_page_too(
    estate: tuple[ReviewEstate, Incident, Operation], client: Client
) -> None:
    admin = User.objects.create_superuser("root", password="root-pass-123")
    login = Probe(client)
    page = login.request("get", reverse("login"))
    for form in _forms(reverse("login"), page).forms:
        for fields in _each_with_nul(form.fields):
            login.request("post", reverse("login"), fields)
    login.request("post", reverse("login"), {"username": NUL, "password": NUL})
    assert not login.failures, "\n".join(login.failures)

    client.force_login(admin)
    probe = Probe(client)
    models = ("prefetch/site", "prefetch/job", "prefetch/plan", "prefetch/operation", "auth/user")
    for model in (*models, "incidents/incident", "incidents/heldplan"):
        changelist = f"/admin/{model}/"
        page = probe.request("get", changelist)
        names = {name for form in _forms(changelist, page).forms for name, _ in form.fields}
        for name in sorted(names | {"q", "o", "p", "status__exact", "site__id__exact"}):
            probe.request("get", _with(changelist, name, NUL))
        probe.request("get", f"/admin/{model}/{quote(NUL)}/change/")
    assert not probe.failures, "\n".join(probe.failures)


def test_the_site_page_says_it_ignored_a_name_with_a_nul_and_an_id_with_one_is_not_found(
    estate: tuple[ReviewEstate, Incident, Operation], operator_client: Client
) -> None:
    site = estate[0].site
    page = operator_client.get(reverse("site-detail", args=[site.esa_id]), {"name": NUL})
    assert page.status_code == 200
    assert "The name contains a NUL character; it was ignored." in page.content.decode()
    assert "Spring sale" in page.content.decode()  # not filtered
    assert operator_client.get(f"/jobs/{quote(NUL)}/").status_code == 404
    assert operator_client.post(f"/plans/{quote(NUL)}/stop/").status_code == 404
