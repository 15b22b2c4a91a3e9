"""The simulated quota and site-pause actions: ListInstanceQuotas, GetPurgeQuota, GetSitePause and
UpdateSitePause, answering with the fields the official SDK's models read (docs/simulator.md#quotas).

The numbers are settings (`backend.Quotas`): ESA publishes none of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from .backend import BackendCore
from .wire import Answer, SimError, int_param, invalid, missing

__all__ = ["PURGE_TYPES", "QuotaActions"]

# GetPurgeQuotaRequest's Type (the SDK).
PURGE_TYPES = ("file", "cachetag", "directory", "ignoreParams", "hostname", "purgeall")
# ListInstanceQuotas' names for the purge quotas (the SDK's ListInstanceQuotasRequest).
_PURGE_QUOTA_NAMES = (
    "refresh_file",
    "refresh_cache_tag",
    "refresh_directory",
    "refresh_ignore_param",
    "refresh_hostname",
    "refresh_all",
)
_INSTANCE_PREFIX = "esa-site-"  # ListSites answers InstanceId as this prefix and the SiteId


class QuotaActions(BackendCore):
    def _existing_site(self, site_id: int) -> int:
        if self._site_status(site_id) == "":
            raise SimError(404, "InvalidSiteId.NotFound", "The specified site does not exist.")
        return site_id

    def list_instance_quotas(self, params: Mapping[str, str]) -> Answer:
        """The site's plan instance's quotas among `QuotaNames`; the simulator knows `preload` and
        the purge (`refresh_*`) ones, and leaves any other name out of its answer."""
        names = [name.strip() for name in params.get("QuotaNames", "").split(",") if name.strip()]
        if not names:
            raise missing("QuotaNames")
        instance_id = params.get("InstanceId", "").strip()
        if params.get("SiteId", "").strip():
            site_id = int_param(params, "SiteId")
        elif instance_id:
            number = instance_id.removeprefix(_INSTANCE_PREFIX)
            if not number.isdigit():
                raise SimError(404, "InvalidInstanceId.NotFound", "The specified instance does not exist.")
            site_id = int(number)
        else:
            raise missing("SiteId")
        self._existing_site(site_id)
        quotas: list[Answer] = []
        for name in dict.fromkeys(names):
            if name == "preload":
                value = self.quotas.preload_quota(site_id)
            elif name in _PURGE_QUOTA_NAMES:
                value = self.quotas.purge_per_day
            else:
                continue
            quotas.append({"QuotaName": name, "QuotaValue": str(value), "QuotaValueType": "num"})
        return {"InstanceId": f"{_INSTANCE_PREFIX}{site_id}", "Status": "online", "Quotas": quotas}

    def get_purge_quota(self, params: Mapping[str, str]) -> Answer:
        """A purge type's daily and 30-day quota; the simulator purges nothing, so none is used."""
        self._existing_site(int_param(params, "SiteId"))
        kind = params.get("Type", "").strip()
        if not kind:
            raise missing("Type")
        if kind not in PURGE_TYPES:
            raise invalid("Type", f"Valid values: {', '.join(PURGE_TYPES)}.")
        # ESA sends these numbers as strings (GetPurgeQuotaResponseBody's fields are str).
        return {
            "Quota": str(self.quotas.purge_per_day),
            "Usage": "0",
            "Quota30Day": str(self.quotas.purge_per_30_days),
            "Usage30Day": "0",
        }

    def get_site_pause(self, params: Mapping[str, str]) -> Answer:
        site_id = self._existing_site(int_param(params, "SiteId"))
        row = self.db.execute("SELECT paused FROM sites WHERE site_id = ?", (site_id,)).fetchone()
        return {"Paused": bool(row[0])}

    def update_site_pause(self, params: Mapping[str, str]) -> Answer:
        """Pause a site (its plans wait, as on a site that is not active) or resume it."""
        site_id = self._existing_site(int_param(params, "SiteId"))
        raw = params.get("Paused", "").strip().lower()
        if not raw:
            raise missing("Paused")
        if raw not in ("true", "false"):
            raise invalid("Paused", "Valid values: true, false.")
        # ESA: "on activated sites with NS access only" (the SDK's UpdateSitePauseRequest). ESA
        # publishes no code for either refusal: these two are ours (docs/simulator.md#quotas).
        status, access_type = self.db.execute(
            "SELECT status, access_type FROM sites WHERE site_id = ?", (site_id,)
        ).fetchone()
        if status != "active":
            raise SimError(
                400,
                "OperationDenied.SiteNotActive",
                f"The site is {status}: only an active site can be paused or resumed.",
            )
        if access_type != "NS":
            raise SimError(
                400,
                "OperationDenied.AccessTypeNotSupported",
                f"The site is connected by {access_type}: only a site on NS can be paused or resumed.",
            )
        self.set_site_paused(site_id, raw == "true")
        return {}
