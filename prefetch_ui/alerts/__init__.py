"""Alerts that hold prefetch by themselves: receivers for Alertmanager, Grafana, PagerDuty and
Standard Webhooks, each holding the scope its rules allow and resuming when the alert resolves."""
