"""Limits: what bounds prefetch on each site, per site and across sites (docs/limits.md): ESA's
prefetch quota used and left today with its forecast at the current schedule, the site's status and
pause, its purge quota and its jobs.

Read-only, on top of `prefetch` (its mirror and selectors): nothing in `prefetch` imports it.
"""
