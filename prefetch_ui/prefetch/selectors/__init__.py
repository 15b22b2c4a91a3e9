"""Reads for the pages: the mirror shaped for display, in a fixed number of queries; one module per
area.

- `statuses`: what pages count plans by (ESA's statuses, and held), and where a job stands.
- `mirror_age`: how old what a page shows of the mirror is.
- `sites`: the sites page and a site's page (its jobs), and their polls.
- `jobs`: the job page (its plans, facts and history), and its poll.
- `incident_steps`: what incidents did to a job's plans, and the token of their unsettled steps.
- `plan_builder`: what the plan builder checks a new batch against.
- `quota_checks`: whether plans about to be added (a batch, a resume's) fit in the quota left.
- `job_errors`: what a job's ErrorInfo means, in words, with what to do (the job page's facts).
- `job_cap`: how many jobs ESA holds on a site, learned from its refusal of one more.
- `estimates`: mirror rows as the one model of estimates (`planning.url_shares`) takes them, for the
  builder, the job page, the overview and the timeline.
"""
