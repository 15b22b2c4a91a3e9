"""Reviews: the team lead's pages (overview, timeline with the origin-load forecast, audit log, CSV).

Read-only: it writes nothing, so it has selectors and no services.
"""
