"""The simulated ESA actions: ListSites, the eleven *ScheduledPreload* actions, and the quota and
site-pause ones.

Each handler takes the request's decoded parameters and returns the answer's body (without
RequestId), or raises `SimError` with ESA's HTTP status, Code and Message. The state they share is
in `backend`; the job actions in `jobs`, the plan actions in `plans`, the quota and pause ones in
`quotas`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .backend import Limits, Quotas
from .jobs import JobActions
from .plans import PlanActions
from .quotas import QuotaActions
from .wire import Answer, SimError

__all__ = ["ACTIONS", "Backend", "Limits", "Quotas", "SimError"]


class Backend(JobActions, PlanActions, QuotaActions):
    """The state machine behind the wire: every action reads and writes through its store."""


ACTIONS: dict[str, Callable[[Backend, Mapping[str, str]], Answer]] = {
    "ListSites": Backend.list_sites,
    "CreateScheduledPreloadJob": Backend.create_scheduled_preload_job,
    "ListScheduledPreloadJobs": Backend.list_scheduled_preload_jobs,
    "GetScheduledPreloadJob": Backend.get_scheduled_preload_job,
    "DeleteScheduledPreloadJob": Backend.delete_scheduled_preload_job,
    "ResetScheduledPreloadJob": Backend.reset_scheduled_preload_job,
    "CreateScheduledPreloadExecutions": Backend.create_scheduled_preload_executions,
    "ListScheduledPreloadExecutions": Backend.list_scheduled_preload_executions,
    "UpdateScheduledPreloadExecution": Backend.update_scheduled_preload_execution,
    "DeleteScheduledPreloadExecution": Backend.delete_scheduled_preload_execution,
    "StartScheduledPreloadExecution": Backend.start_scheduled_preload_execution,
    "StopScheduledPreloadExecution": Backend.stop_scheduled_preload_execution,
    "ListInstanceQuotas": Backend.list_instance_quotas,
    "GetPurgeQuota": Backend.get_purge_quota,
    "GetSitePause": Backend.get_site_pause,
    "UpdateSitePause": Backend.update_site_pause,
}
