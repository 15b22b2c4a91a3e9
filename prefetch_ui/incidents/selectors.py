"""Reads of the incidents subsystem: what pages show and what the sync needs to know."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from prefetch_ui.core.workers import live_workers
from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.prefetch.models import Site
from prefetch_ui.prefetch.selectors.quota_checks import QuotaCheck, plans_quota_checks
from prefetch_ui.web.request_ids import id_number

from .models import (
    HOLD_ACTIVE_STATUSES,
    OPEN_INCIDENT_STATUSES,
    UNSETTLED_STEP_STATES,
    FoundBy,
    HeldPlan,
    HoldOutcome,
    Incident,
    IncidentStatus,
    ResumeOutcome,
    StepState,
    holding_now,
)
from .services.resumes import ResumePreview
from .services.scopes import hold_of_scope
from .services.steps import INCIDENTS_QUEUE

FAILURES_SHOWN = 100
# The fields of a held plan that pages show (`plans_held`).
HELD_PLAN_SHOWN = (
    "plan_esa_id",
    "original_start",
    "original_end",
    "hold_outcome",
    "incident__id",
    "incident__site__id",
    "incident__site__name",
)


def plans_held(*, plan_esa_ids: Iterable[str]) -> dict[str, HeldPlan]:
    """Which of these plans an open incident holds now, by ESA id: the row says which incident
    (`held.incident`, its site selected), the plan's original window (`original_start`,
    `original_end`) and what the hold did (`hold_outcome`; empty while its step is under way)."""
    ids = list(plan_esa_ids)
    if not ids:
        return {}
    rows = (
        HeldPlan.objects.filter(holding_now(), plan_esa_id__in=ids)
        .select_related("incident__site")
        # What the docstring promises, no more: a job page's poll reads this for a single row, and
        # building the SELECT of three whole models cost it more than the rest of its work.
        .only(*HELD_PLAN_SHOWN)
    )
    return {held.plan_esa_id: held for held in rows}


def holding_rows() -> QuerySet[HeldPlan]:
    """Every `HeldPlan` row that holds its plan now (see `models.holding_now`): for a join or an
    `Exists` over plans (`plan_esa_id=OuterRef("esa_id")`)."""
    return HeldPlan.objects.filter(holding_now())


def held_site_watch() -> Callable[[Site], bool]:
    """For the sync: whether a site is under an active hold (its plans are then all read)."""
    scopes = set(Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES).values_list("site_id", flat=True))
    if None in scopes:
        return lambda site: True
    return lambda site: site.pk in scopes


def fan_out_sites() -> Callable[[Site], bool]:
    """For the sync: whether an incident's fan-out is working on a site now (a hold or resume with
    steps not yet carried out, or a hold still listing its plans). The sync leaves such a site out
    of its cycle: the drainers read and write its plans themselves, and its calls would only take
    the budget from them. Once the fan-out is done, the sync reads the site in full again."""
    fanning = Q(status=IncidentStatus.HOLDING, planned_at__isnull=True) | Q(
        status__in=(IncidentStatus.HOLDING, IncidentStatus.RESUMING),
        held_plans__state__in=UNSETTLED_STEP_STATES,
    )
    scopes = set(Incident.objects.filter(fanning).values_list("site_id", flat=True).distinct())
    if None in scopes:
        return lambda site: True
    return lambda site: site.pk in scopes


def open_incidents() -> list[Incident]:
    """Incidents whose hold is active or being lifted: the banner on every page names them."""
    return list(Incident.objects.filter(status__in=OPEN_INCIDENT_STATUSES).select_related("site", "held_by"))


def incident_list() -> QuerySet[Incident]:
    """Newest first. Said again here: a query that counts (GROUP BY) ignores Meta.ordering, and the
    list would come in whatever order the database likes, page by page."""
    return (
        Incident.objects.select_related("site", "held_by", "resumed_by")
        .annotate(
            plan_total=Count("held_plans"),
            plan_failed=Count("held_plans", filter=Q(held_plans__state=StepState.FAILED)),
        )
        .order_by("-held_at", "-id")
    )


@dataclass(frozen=True, slots=True)
class IncidentProgress:
    phase: str  # "hold" or "resume"
    total: int  # steps of this phase
    settled: int  # done or failed
    failed: int
    outcomes: dict[str, int]  # outcome label -> count, for this phase
    found_by_sync: int
    reholds: int
    passed_in: int  # held since another incident resumed while this one covered their site

    @property
    def unsettled(self) -> int:
        return self.total - self.settled

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * self.settled / self.total)


def incident_progress(incident: Incident) -> IncidentProgress:
    steps = HeldPlan.objects.filter(incident=incident)
    phase = incident.phase
    outcome_field = "hold_outcome" if phase == "hold" else "resume_outcome"
    labels = dict(HoldOutcome.choices if phase == "hold" else ResumeOutcome.choices)
    if phase == "resume":
        steps = steps.exclude(resume_action="")
    counts = steps.aggregate(
        total=Count("pk"),
        settled=Count("pk", filter=Q(state__in=(StepState.DONE, StepState.FAILED))),
        failed=Count("pk", filter=Q(state=StepState.FAILED)),
        found_by_sync=Count("pk", filter=Q(found_by="sync")),
        reholds=Count("pk", filter=Q(rehold_count__gt=0)),
        passed_in=Count("pk", filter=Q(found_by=FoundBy.PASSED)),
    )
    outcomes = {
        labels.get(row[outcome_field], row[outcome_field]): row["n"]
        for row in steps.exclude(**{outcome_field: ""})
        .values(outcome_field)
        .annotate(n=Count("pk"))
        .order_by()
    }
    return IncidentProgress(phase=phase, outcomes=outcomes, **counts)


def incident_failures(incident: Incident) -> list[HeldPlan]:
    return list(HeldPlan.objects.filter(incident=incident, state=StepState.FAILED)[:FAILURES_SHOWN])


def incident_held_plans(incident: Incident) -> QuerySet[HeldPlan]:
    return HeldPlan.objects.filter(incident=incident).select_related("plan")


def incident_token(incident: Incident, *, workers: int | None) -> str:
    """The change token of an incident's page: its change version (services/changes.py), and what
    the page says of the workers (`workers`: `incident_workers_consuming`, None when not asked or
    unknown), which Redis says, not a stamp. Read the incident before the page's data: a change
    in between is then sent again, never missed."""
    seen = "unknown" if workers is None else "none" if workers == 0 else "some"
    return f"{incident.version}-{seen}"


def incident_token_version(token: str | None) -> int | None:
    """The change version in a token from `incident_token`; None for anything else."""
    number = (token or "").partition("-")[0]
    return id_number(number)


def incident_changed_rows(
    *, incident: Incident, since: int, page_number: int, per_page: int
) -> list[HeldPlan]:
    """The steps of one page of the incident's plans stamped after version `since`, for a poll of
    a page whose list kept its shape (`incident.layout_version` not after `since`)."""
    offset = (max(page_number, 1) - 1) * per_page
    page_ids = HeldPlan.objects.filter(incident=incident).values("pk")[offset : offset + per_page]
    return list(incident_held_plans(incident).filter(version__gt=since, pk__in=page_ids))


def incident_workers_consuming() -> int | None:
    """How many live worker processes consume the incidents queue; None when Redis cannot say."""
    try:
        workers = live_workers()
    except redis.RedisError:
        return None
    return sum(1 for worker in workers.values() if INCIDENTS_QUEUE in worker.get("queues", []))


@dataclass(frozen=True, slots=True)
class SiteHolds:
    """The active holds that cover a site: its own, and a hold of every site."""

    own: Incident | None
    everywhere: Incident | None

    @property
    def covering(self) -> Incident | None:
        return self.own or self.everywhere


def every_site_hold() -> Incident | None:
    """The active hold of every site, if any: the sites page offers none of its own then."""
    return hold_of_scope(site=None)


def site_holds(site: Site) -> SiteHolds:
    active = Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES).select_related("site", "held_by")
    holds = list(active.filter(Q(site__isnull=True) | Q(site=site)).order_by("held_at", "pk"))
    return SiteHolds(
        own=next((hold for hold in holds if hold.site_id == site.pk), None),
        everywhere=next((hold for hold in holds if hold.site_id is None), None),
    )


def site_held(site_id: int) -> bool:
    """Whether an active hold covers the site: what `hold_refusal` says, as one cheap query."""
    covering = Q(site__isnull=True) | Q(site_id=site_id)
    return Incident.objects.filter(covering, status__in=HOLD_ACTIVE_STATUSES).exists()


def hold_refusal(site: Site) -> str:
    """Why the dashboard will not start, reset, edit or add plans on `site` now ("" if it will)."""
    incident = (
        Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES)
        .filter(Q(site__isnull=True) | Q(site=site))
        .select_related("site")
        .first()
    )
    if incident is None:
        return ""
    return (
        f"{site.name} is held by incident #{incident.pk} (hold of {incident.scope_label}): "
        "nothing that sends URLs can start until it is resumed."
    )


def resume_quota_checks(*, preview: ResumePreview) -> list[QuotaCheck]:
    """For each site the resume puts plans back on (in the order of `preview.loads`, by name), what
    its daily prefetch quota makes of them: each plan's window under the preview (the ramp's, or as
    it was) added to its job, from the moment the preview was laid out for.

    The held plans themselves are parked far ahead or stopped, so the schedule without them is the
    site's as it is; only the quota days up to the last window's end are checked.
    """
    now = preview.now or timezone.now()
    sites: dict[int, Site] = {}
    added: dict[int, dict[int, list[ScheduledPlan]]] = {}
    for held, (start, end) in preview.put_back:
        if held.plan is None:
            continue
        sites[held.site_id] = held.site
        jobs = added.setdefault(held.site_id, {})
        jobs.setdefault(held.plan.job_id, []).append(ScheduledPlan(start, end, held.interval, held.slice_len))
    ordered = sorted(added, key=lambda site_id: sites[site_id].name)
    return plans_quota_checks(sites=[sites[site_id] for site_id in ordered], now=now, added=added)
