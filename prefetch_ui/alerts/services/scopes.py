"""Which scope an alert may hold: its receiver's first matching rule decides, never the payload alone.

An alert names a site only through a rule that allows it: a rule of one site holds that site
whatever the labels say; a rule "the site named by label L" holds the site L names only if it is
among the rule's allowed sites; a rule of every site holds every site.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefetch_ui.prefetch.models import Site

from ..models import Receiver, ReceiverRule, ScopeKind
from ..payloads import AlertEvent


@dataclass(frozen=True, slots=True)
class Scope:
    """What an alert holds: `site`, or every site (`site` None, `every` True); or nothing, and why."""

    site: Site | None = None
    every: bool = False
    rule: ReceiverRule | None = None
    refusal: str = ""

    @property
    def holds(self) -> bool:
        return self.every or self.site is not None

    @property
    def label(self) -> str:
        return "every site" if self.every else (self.site.name if self.site is not None else "nothing")


def rule_matches(rule: ReceiverRule, alert: AlertEvent) -> bool:
    if rule.alert_name and rule.alert_name != alert.name:
        return False
    labels = rule.labels if isinstance(rule.labels, dict) else {}
    return all(alert.labels.get(str(name)) == str(value) for name, value in labels.items())


def _site_named(rule: ReceiverRule, value: str) -> Site | None:
    for site in rule.allowed_sites.all():
        if value in (site.name, str(site.esa_id)):
            return site
    return None


def alert_scope(*, receiver: Receiver, alert: AlertEvent) -> Scope:
    """The scope `alert` holds under `receiver`'s rules (first match), or why it holds nothing."""
    for rule in receiver.rules.select_related("site").all():
        if not rule_matches(rule, alert):
            continue
        if rule.scope == ScopeKind.EVERY:
            return Scope(every=True, rule=rule)
        if rule.scope == ScopeKind.SITE:
            if rule.site is None:
                return Scope(rule=rule, refusal="its rule's site no longer exists")
            return Scope(site=rule.site, rule=rule)
        value = alert.labels.get(rule.site_label, "")
        if not value:
            return Scope(rule=rule, refusal=f"it has no label {rule.site_label!r} to name a site")
        site = _site_named(rule, value)
        if site is None:
            return Scope(
                rule=rule,
                refusal=f"site {value!r} (label {rule.site_label}) is not among the rule's allowed sites",
            )
        return Scope(site=site, rule=rule)
    return Scope(refusal="no rule of the receiver matches it")
