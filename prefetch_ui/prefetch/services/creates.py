"""Creating jobs and batches of plans exactly once, however many attempts it takes.

A create is keyed by the token of the form that asked for it, and one rule says when that token is
spent: once an operation with it has finished, whatever the result. A second submit while it is
under way joins it; a submit after it finished sends nothing and says what became of the first.

A create's answer can be lost in many ways: a timeout or reset (EsaAmbiguousResultError), a worker
killed after ESA acted, any error after the call. So before its first send, an operation records
what ESA already has ("before"); every later attempt first diffs ESA against that record and
adopts what landed, and sends only what did not. The mirror is no reference for this: the sync may
already have copied the new job or plans into it.
"""

from __future__ import annotations

from django.utils import timezone

from prefetch_ui.esa import EsaAmbiguousResultError, EsaApiError, EsaClient, PlanSpec, parse_esa_time
from prefetch_ui.esa import Job as EsaJob
from prefetch_ui.esa import Plan as EsaPlan

from ..models import ACTIVE_OPERATION_STATUSES, Job, Operation, OperationKind, Site
from ..selectors.job_cap import JOB_COUNT_FULL, SITE_JOB_COUNT
from .errors import OperationFailedError, RetryLaterError
from .mirror_rows import mirror_basis
from .mirror_writes import job_plans_replace, jobs_upsert, plans_upsert
from .operations import Handler, User, operation_record

# How many of a site's newest jobs a job create looks through for one that landed unseen.
_NEWEST_JOBS = 50


class FormAlreadySentError(Exception):
    """This form's create has finished already: nothing more is sent from it."""

    def __init__(self, operation: Operation) -> None:
        super().__init__(f"form already sent as operation {operation.pk}")
        self.operation = operation


def form_sent_operation(*, kind: OperationKind, form_token: str) -> Operation | None:
    """The finished create this form's token was spent on, if any (the one token rule)."""
    return (
        Operation.objects.filter(kind=kind, target_esa_id=form_token)
        .exclude(status__in=ACTIVE_OPERATION_STATUSES)
        .order_by("-created_at", "-id")
        .first()
    )


def _spend(kind: OperationKind, form_token: str) -> None:
    if sent := form_sent_operation(kind=kind, form_token=form_token):
        raise FormAlreadySentError(sent)


def job_create_request(
    *,
    user: User,
    site: Site,
    form_token: str,
    name: str,
    urls: list[str] | None = None,
    oss_url: str = "",
    via: str = "",
) -> tuple[Operation, bool]:
    """Ask a worker to create a job from checked URLs (or an OSS object).

    Returns the operation and whether it is new (False: this form's create is under way and the
    request joined it). Raises FormAlreadySentError when this form's create has finished.
    """
    if (urls is None) == (not oss_url):
        raise ValueError("give exactly one of urls or oss_url")
    _spend(OperationKind.JOB_CREATE, form_token)
    params: dict[str, object] = (
        {"name": name, "urls": urls} if urls is not None else {"name": name, "oss_url": oss_url}
    )
    return operation_record(
        user=user,
        kind=OperationKind.JOB_CREATE,
        target_key=form_token,
        target_label=name,
        site=site,
        params=params,
        via=via,
    )


def plans_create_request(
    *, user: User, job: Job, form_token: str, plans: dict[str, PlanSpec], via: str = ""
) -> tuple[Operation, bool]:
    """Ask a worker to add a batch of plans (keyed by the builder's row ids) to a job.

    Raises FormAlreadySentError when this form's batch has finished.
    """
    _spend(OperationKind.PLANS_CREATE, form_token)
    rows = [
        {
            "row": row,
            # The builder always gives both times (ESA's own defaults are for other callers).
            "start_time": spec.start_time.isoformat() if spec.start_time else None,
            "end_time": spec.end_time.isoformat() if spec.end_time else None,
            "interval": spec.interval,
            "slice_len": spec.slice_len,
        }
        for row, spec in plans.items()
    ]
    return operation_record(
        user=user,
        kind=OperationKind.PLANS_CREATE,
        target_key=form_token,
        target_label=f"{job.name}: {len(rows)} plan{'' if len(rows) == 1 else 's'}",
        site=job.site,
        job=job,
        params={"rows": rows},
        via=via,
    )


def _remember(operation: Operation, **facts: object) -> None:
    """Save facts in the operation's result at once (they must survive this worker)."""
    operation.result = {**operation.result, **facts}
    Operation.objects.filter(pk=operation.pk).update(result=operation.result)


def _lost_answer(error: EsaAmbiguousResultError) -> RetryLaterError:
    return RetryLaterError.from_esa(error, message=f"{error.message}; the next attempt looks in ESA first")


def _job_create(operation: Operation, client: EsaClient) -> str:
    """Create the job once, however many attempts it takes."""
    site = operation.site
    if site is None:
        raise OperationFailedError("Site.NotFound", "The site is gone.")
    name = str(operation.params["name"])

    # Every attempt lists the site's newest jobs before it sends; the listing's TotalCount is how
    # many jobs ESA holds on the site just then (`_job_send` keeps it if ESA refuses one more).
    listed = client.list_scheduled_preload_jobs(site_id=site.esa_id, page_size=_NEWEST_JOBS)
    if "jobs_before" not in operation.result:
        _remember(operation, jobs_before=[job.id for job in listed.items])
        created = _job_send(operation, client, site, jobs_in_esa=listed.total_count)
    else:
        before = set(operation.result["jobs_before"])
        landed = [job for job in listed.items if job.id not in before and job.name == name]
        created = landed[0] if landed else _job_send(operation, client, site, jobs_in_esa=listed.total_count)
    jobs_upsert(site=site, jobs=[created], now=timezone.now())
    _remember(operation, job_esa_id=created.id)
    Operation.objects.filter(pk=operation.pk).update(job=Job.objects.get(esa_id=created.id))
    return created.request_id


def _job_send(operation: Operation, client: EsaClient, site: Site, *, jobs_in_esa: int) -> EsaJob:
    params = operation.params
    urls = params.get("urls")
    try:
        if isinstance(urls, list):
            return client.create_scheduled_preload_job(
                site_id=site.esa_id, name=str(params["name"]), urls=[str(url) for url in urls]
            )
        return client.create_scheduled_preload_job(
            site_id=site.esa_id, name=str(params["name"]), oss_url=str(params["oss_url"])
        )
    except EsaAmbiguousResultError as error:
        raise _lost_answer(error) from error
    except EsaApiError as error:
        if error.code == JOB_COUNT_FULL:
            # ESA publishes no job cap; its refusal teaches it: the jobs it held when it refused
            # (ESA's own count, from the listing just before this send), read by `site_job_cap`.
            _remember(operation, **{SITE_JOB_COUNT: jobs_in_esa})
        raise


def _plan_key(plan: EsaPlan | PlanSpec) -> tuple[object, ...]:
    """What ties a plan ESA created to the row that asked for it."""
    return (plan.start_time, plan.end_time, plan.interval, plan.slice_len)


def _plans_create(operation: Operation, client: EsaClient) -> str:
    """Send the rows of the batch that have no outcome yet; record each row's plan or refusal.

    Rows that ESA created are never sent again: not after a refusal of others, and not after an
    answer that was lost (a later attempt matches the plans ESA gained since "plans_before" to
    the rows first).
    """
    job = operation.job
    if job is None:
        raise OperationFailedError("InvalidJob.NotFound", "The job no longer exists.")
    outcomes: dict[str, dict[str, object]] = dict(operation.result.get("rows", {}))
    specs = {
        row["row"]: PlanSpec(
            parse_esa_time(row["start_time"]) if row["start_time"] else None,
            parse_esa_time(row["end_time"]) if row["end_time"] else None,
            row["interval"],
            row["slice_len"],
        )
        for row in operation.params["rows"]
    }
    now = mirror_basis()  # before the listing below: its basis

    def settle(plans: list[EsaPlan], status: str, messages: list[str] | None = None) -> None:
        waiting = {row: spec for row, spec in specs.items() if row not in outcomes}
        for index, plan in enumerate(plans):
            row = next((r for r, spec in waiting.items() if _plan_key(spec) == _plan_key(plan)), None)
            if row is None:
                continue
            del waiting[row]
            outcome: dict[str, object] = {"status": status, "plan_id": plan.id}
            if messages is not None:
                outcome["message"] = messages[index] if index < len(messages) else "refused by ESA"
            outcomes[row] = outcome

    listed = client.list_scheduled_preload_executions(job.esa_id).items
    if "plans_before" not in operation.result:
        _remember(operation, plans_before=[plan.id for plan in listed])
    else:
        already = set(operation.result["plans_before"]) | {str(o.get("plan_id")) for o in outcomes.values()}
        settle([plan for plan in listed if plan.id not in already], "created")
        job_plans_replace(job=job, plans=listed, now=now)
        _remember(operation, rows=outcomes)
    request_id = ""
    unsent = {row: spec for row, spec in specs.items() if row not in outcomes}
    if unsent:
        try:
            answer = client.create_scheduled_preload_executions(job.esa_id, list(unsent.values()))
        except EsaAmbiguousResultError as error:
            raise _lost_answer(error) from error
        request_id = answer.request_id
        settle(answer.succeeded, "created")
        settle(answer.failed, "refused", answer.failed_messages)
        for row in unsent:
            # A refused plan ESA did not echo back still gets an outcome, never a silent resend.
            outcomes.setdefault(
                row, {"status": "refused", "message": "; ".join(answer.failed_messages) or "refused"}
            )
        plans_upsert(job=job, plans=answer.succeeded, now=timezone.now())  # the answer's basis: now
        _remember(operation, rows=outcomes)
    refused = {row: outcome for row, outcome in outcomes.items() if outcome["status"] == "refused"}
    if refused:
        raise OperationFailedError(
            "PlansRefused",
            f"ESA refused {len(refused)} of {len(outcomes)} plan(s): "
            + "; ".join(str(outcome.get("message", "")) for outcome in refused.values()),
            request_id=request_id,
        )
    return request_id


CREATE_HANDLERS: dict[str, Handler] = {
    OperationKind.JOB_CREATE: _job_create,
    OperationKind.PLANS_CREATE: _plans_create,
}
