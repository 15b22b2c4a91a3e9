"""The incidents app's answers to what prefetch asks about holds (`prefetch_ui.prefetch.holds`),
registered in IncidentsConfig.ready(): prefetch never imports incidents."""

from __future__ import annotations

from collections.abc import Callable

from prefetch_ui.prefetch.models import Site

from . import selectors
from .models import Incident
from .services.holds import holds_enforce


class IncidentHolds:
    """`prefetch_ui.prefetch.holds.Holds`, read from incidents' rows."""

    def hold_refusal(self, site: Site) -> str:
        return selectors.hold_refusal(site)

    def site_held(self, site_id: int) -> bool:
        return selectors.site_held(site_id)

    def every_site_hold(self) -> Incident | None:
        return selectors.every_site_hold()

    def site_holds(self, site: Site) -> selectors.SiteHolds:
        return selectors.site_holds(site)

    def held_site_watch(self) -> Callable[[Site], bool]:
        return selectors.held_site_watch()

    def fan_out_sites(self) -> Callable[[Site], bool]:
        return selectors.fan_out_sites()

    def holds_enforce(self) -> int:
        return holds_enforce()
