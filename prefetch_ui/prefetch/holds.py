"""What prefetch asks of whatever may hold prefetch on a site (the incidents app), through one
registered extension point: prefetch imports no module of incidents, which uses prefetch. The
incidents app registers its `Holds` in IncidentsConfig.ready() (`holds_register`); until one is
registered (incidents not installed), `NoHolds` answers: nothing is ever held.

Pages ask whether a site is held (to refuse starting plans there, and to say by which incident);
the sync asks which sites to read in full and which to leave to an incident's fan-out, and has
holds enforced after each cycle; selectors ask which plans are held, and what incidents did to a
job's plans (its page's history and its poll's token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .models import Site


class Holds(Protocol):
    """The holds of prefetch, as prefetch's pages, sync and selectors read them."""

    def hold_refusal(self, site: Site) -> str:
        """Why the dashboard will not start, reset, edit or add plans on `site` now ("" if it will)."""
        ...

    def site_held(self, site_id: int) -> bool:
        """Whether an active hold covers the site (what `hold_refusal` says, cheaply)."""
        ...

    def every_site_hold(self) -> object | None:
        """The active hold of every site (shown with its `pk`), if any."""
        ...

    def site_holds(self, site: Site) -> object | None:
        """The active holds covering `site`, as its page shows them (`own`, `everywhere`, `covering`)."""
        ...

    def held_site_watch(self) -> Callable[[Site], bool]:
        """For the sync: whether a site is under an active hold (its plans are then all read)."""
        ...

    def fan_out_sites(self) -> Callable[[Site], bool]:
        """For the sync: whether an incident's fan-out is working on a site now (left out of the cycle)."""
        ...

    def holds_enforce(self) -> int:
        """After each sync: hold what started in an active hold's scope since; returns the steps added."""
        ...


class NoHolds:
    """Nothing is held: what prefetch sees when no app registered its holds."""

    def hold_refusal(self, site: Site) -> str:
        return ""

    def site_held(self, site_id: int) -> bool:
        return False

    def every_site_hold(self) -> object | None:
        return None

    def site_holds(self, site: Site) -> object | None:
        return None

    def held_site_watch(self) -> Callable[[Site], bool]:
        return lambda site: False

    def fan_out_sites(self) -> Callable[[Site], bool]:
        return lambda site: False

    def holds_enforce(self) -> int:
        return 0


_registered: Holds = NoHolds()


def holds_register(implementation: Holds) -> None:
    """Make `implementation` what prefetch asks about holds (called once, from an AppConfig.ready())."""
    global _registered
    _registered = implementation


def holds() -> Holds:
    """The registered holds (`NoHolds` when none is)."""
    return _registered
