"""Every kind of page the product shows, over one estate with something in every state: what the
accessibility and the phone-width tests walk through.

The estate is `tests.review_estate`'s (shop.example.net held, jobs in every state) plus a job with
a plan of every status and a failed operation, and a third site held through the real services,
so that the incident page lists held plans and the job page shows held rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from prefetch_ui.alerts.models import Delivery as AlertDelivery
from prefetch_ui.alerts.models import Receiver, ScopeKind
from prefetch_ui.alerts.services.receivers import receiver_create, rule_add
from prefetch_ui.api.models import ServiceAccount
from prefetch_ui.api.service_accounts import service_account_create, service_account_token_create
from prefetch_ui.incidents.models import Incident
from prefetch_ui.notifications.models import Channel, ChannelKind, Delivery, DeliveryStatus, EventKind
from prefetch_ui.notifications.services.channels import channel_create
from prefetch_ui.notifications.services.outbox import event_record
from prefetch_ui.prefetch.models import Job, OperationKind, OperationStatus, Plan, SiteLimits
from prefetch_ui.prefetch.services.site_limits import quota_zone
from tests.factories import JobFactory, OperationFactory, PlanFactory, SiteFactory
from tests.holds import hold_done
from tests.review_estate import ReviewEstate, review_estate_create

__all__ = ["PAGE_KINDS", "PageEstate", "page_estate_create"]

# The statuses ESA gives a plan, and a row for each on the job page.
# A site of its own (not one the simulator seeds).
GAMMA_SITE_ID = 990_001
PLAN_STATUSES = ("waiting", "running", "finished", "failed", "stopped")


@dataclass(frozen=True, slots=True)
class PageEstate:
    review: ReviewEstate
    # A job with a plan of every status, one of them with a failed operation.
    every: Job
    every_plans: dict[str, Plan]
    # A site held through the real services: its incident lists the plans it stopped and parked.
    held_job: Job
    held_incident: Incident
    # An alert receiver with a rule, a delivery taken and one refused.
    receiver: Receiver
    # A notification channel with a delivery that failed (the deliveries list shows its answer).
    channel: Channel
    service_account: ServiceAccount


def page_estate_create(*, operator: User) -> PageEstate:
    now = timezone.now().replace(second=0, microsecond=0)
    review = review_estate_create(now=now, held_by=operator)
    every = JobFactory.create(site=review.site, name="Every status", url_count=400, url_submitted=120)
    plans: dict[str, Plan] = {}
    for index, status in enumerate(PLAN_STATUSES):
        start = now + timedelta(hours=index - 2)
        end = start + timedelta(hours=1)
        plans[status] = PlanFactory.create(
            job=every, status=status, start_time=start, end_time=end, interval=60, slice_len=10
        )
    OperationFactory.create(
        kind=OperationKind.PLAN_START,
        status=OperationStatus.FAILED,
        plan=plans["stopped"],
        requested_by=operator,
        error_code="InvalidParameter",
        error_message="The plan cannot start now.",
        request_id="REQUEST-FAILED-1",
    )
    gamma = SiteFactory.create(esa_id=GAMMA_SITE_ID, name="gamma.example.org", status="active")
    held_job = JobFactory.create(site=gamma, name="Gamma warm-up", url_count=200, url_submitted=20)
    hour = timedelta(hours=1)
    PlanFactory.create(job=held_job, status="running", start_time=now - hour, end_time=now + hour)
    PlanFactory.create(job=held_job, status="waiting", start_time=now + 2 * hour, end_time=now + 3 * hour)
    incident = hold_done(user=operator, site=gamma, reason="origin 5xx at 40%")
    # Limits in the states the limits pages tell apart: a quota the schedule runs out, counted
    # from an hour ago; a paused site whose last read ESA refused.
    SiteLimits.objects.create(
        site=review.site,
        instance_id="esa-site-shop",
        instance_status="online",
        preload_quota=500,
        preload_used=120,
        quota_day=now.astimezone(quota_zone()).date(),
        counted_since=now - hour,
        purge_quota=10_000,
        purge_used=12,
        purge_quota_30day=300_000,
        purge_used_30day=4_000,
        paused=False,
        read_at=now,
    )
    SiteLimits.objects.create(
        site=gamma,
        paused=True,
        read_at=now - hour,
        read_error="Throttling.User: Request was denied due to user flow control. (RequestId PAGE-KINDS-1)",
        read_error_at=now,
    )
    receiver = receiver_create(user=operator, name="alertmanager prod", kind="alertmanager").receiver
    rule_add(
        receiver=receiver,
        alert_name="",
        labels="",
        scope=ScopeKind.LABEL,
        site_label="site",
        allowed_sites=[gamma],
    )
    AlertDelivery.objects.create(
        receiver=receiver,
        status_code=200,
        code="taken",
        actions=["OriginErrors (8c3c) holds gamma.example.org"],
    )
    AlertDelivery.objects.create(
        receiver=receiver, status_code=401, code="token_invalid", message="This token is not the receiver's."
    )
    channel, _ = channel_create(
        user=operator,
        name="On-call robot",
        kind=ChannelKind.DINGTALK,
        url="https://oapi.dingtalk.com/robot/send?access_token=page-kinds",
        secret="SECpage-kinds",
        events=[EventKind.HOLD_OPENED, EventKind.PLAN_FAILED],
        sites=[gamma],
    )
    event_record(
        key="page-kinds", kind=EventKind.HOLD_OPENED, title="Hold of gamma.example.org opened", data={}
    )
    Delivery.objects.filter(channel=channel).update(
        status=DeliveryStatus.FAILED, attempts=1, answer_code="200 errcode 310000", error="DingTalk refused"
    )
    # The walk's operator is an admin too, to see the service accounts pages; one account, with a token.
    operator.is_staff = True
    operator.save(update_fields=["is_staff"])
    service_account = service_account_create(admin=operator, name="alertmanager", rights="incidents")
    service_account_token_create(
        account=service_account, name="receiver", scopes=["incidents"], expires_in_days=30
    )
    return PageEstate(
        review=review,
        every=every,
        every_plans=plans,
        held_job=held_job,
        held_incident=incident,
        receiver=receiver,
        channel=channel,
        service_account=service_account,
    )


@dataclass(frozen=True, slots=True)
class PageKind:
    name: str
    # The page's path in the estate.
    path: Callable[[PageEstate], str]
    # Whether it is seen logged in (as the operator, who sees every button).
    logged_in: bool = True


PAGE_KINDS = [
    PageKind("login", lambda estate: "/accounts/login/", logged_in=False),
    PageKind("sites", lambda estate: "/"),
    PageKind("site", lambda estate: f"/sites/{estate.review.site.esa_id}/"),
    PageKind("job", lambda estate: f"/jobs/{estate.every.esa_id}/"),
    PageKind("held job", lambda estate: f"/jobs/{estate.held_job.esa_id}/"),
    PageKind("plan builder", lambda estate: f"/jobs/{estate.every.esa_id}/plans/new/"),
    PageKind("new job", lambda estate: f"/sites/{estate.review.site.esa_id}/jobs/new/"),
    PageKind("plan edit", lambda estate: f"/plans/{estate.every_plans['waiting'].esa_id}/edit/"),
    PageKind("overview", lambda estate: "/overview/"),
    PageKind("timeline", lambda estate: "/timeline/"),
    PageKind("audit", lambda estate: "/audit/"),
    PageKind("limits", lambda estate: "/limits/"),
    PageKind("site limits", lambda estate: f"/sites/{estate.review.site.esa_id}/limits/"),
    PageKind("incidents list", lambda estate: "/incidents/"),
    PageKind("incident detail", lambda estate: f"/incidents/{estate.held_incident.pk}/"),
    PageKind("hold confirm", lambda estate: f"/incidents/hold/?site={estate.review.site.esa_id}"),
    PageKind("resume confirm", lambda estate: f"/incidents/{estate.held_incident.pk}/resume/"),
    PageKind("api tokens", lambda estate: "/api/tokens/"),
    PageKind("alert receivers", lambda estate: "/alerts/receivers/"),
    PageKind("new alert receiver", lambda estate: "/alerts/receivers/new/"),
    PageKind("alert receiver", lambda estate: f"/alerts/receivers/{estate.receiver.pk}/"),
    PageKind("notification channels", lambda estate: "/notifications/"),
    PageKind("notification channel", lambda estate: f"/notifications/channels/{estate.channel.pk}/"),
    PageKind("notification deliveries", lambda estate: "/notifications/deliveries/"),
    PageKind("service accounts", lambda estate: "/api/service-accounts/"),
    PageKind("service account", lambda estate: f"/api/service-accounts/{estate.service_account.pk}/"),
    PageKind("404", lambda estate: "/no-such-page/"),
]
