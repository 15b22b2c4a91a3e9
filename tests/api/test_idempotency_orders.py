"""For every order of requests, keys and finished operations: a key answers its first request's
answer for ever (24 h), another request under it is refused, and nothing acts twice for one key."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from prefetch_ui.api.models import ApiToken, IdempotencyKey
from prefetch_ui.api.services import token_create
from prefetch_ui.prefetch.models import Job, Operation, OperationStatus, Plan, PlanStatus, Site
from prefetch_ui.web.permissions import OPERATORS_GROUP
from tests.factories import JobFactory, PlanFactory, SiteFactory

# What a client may send: (method, path of a plan or job as a format string, body).
REQUESTS = [
    ("post", "/plans/{0}/stop", None),
    ("post", "/plans/{1}/stop", None),
    ("delete", "/plans/{0}", None),
    ("post", "/jobs/{job}/reset", None),
    ("patch", "/plans/{1}", {"interval": 30}),
    ("patch", "/plans/{1}", {"interval": 45}),
]


class KeyedClient(RuleBasedStateMachine):
    """A script retrying writes under a handful of keys while workers finish operations."""

    @initialize()
    def open(self) -> None:
        self.user = User.objects.create_user("keyed-operator")
        self.user.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
        self.token = token_create(user=self.user, name="orders", scopes=["operate"], expires_in_days=1).secret
        self.job = JobFactory.create(site=SiteFactory.create())
        self.plans = [PlanFactory.create(job=self.job, status=PlanStatus.RUNNING) for _ in range(2)]
        self.first: dict[str, tuple[int, int, Any]] = {}  # key → (request, status, body)
        self.acted: dict[str, set[int]] = {}  # key → the operations its answers named

    def teardown(self) -> None:
        IdempotencyKey.objects.all().delete()
        ApiToken.objects.all().delete()
        Operation.objects.all().delete()
        Plan.objects.all().delete()
        Job.objects.all().delete()
        Site.objects.all().delete()
        User.objects.filter(username="keyed-operator").delete()

    @rule(request=st.integers(0, len(REQUESTS) - 1), key=st.sampled_from(["a", "b", "c"]))
    def send(self, request: int, key: str) -> None:
        method, path, body = REQUESTS[request]
        target = path.format(*(plan.esa_id for plan in self.plans), job=self.job.esa_id)
        before = Operation.objects.count()
        response = getattr(Client(), method)(
            f"/api/v1{target}",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": key},
        )
        answer = (request, response.status_code, response.json())
        if key not in self.first:
            self.first[key] = answer
            assert "Idempotent-Replayed" not in response
        elif self.first[key][0] == request:
            assert answer == self.first[key]
            assert response["Idempotent-Replayed"] == "true"
            assert Operation.objects.count() == before  # a replay acts not
        else:
            assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused")
            assert Operation.objects.count() == before
        if response.status_code == 202:
            self.acted.setdefault(key, set()).add(response.json()["id"])

    @rule()
    def workers_finish_everything(self) -> None:
        Operation.objects.filter(status__in=["pending", "running"]).update(status=OperationStatus.SUCCEEDED)

    @invariant()
    def one_key_one_action(self) -> None:
        for operations in self.acted.values():
            assert len(operations) == 1
        if hasattr(self, "token"):
            assert IdempotencyKey.objects.filter(status_code__isnull=True).count() == 0
            assert set(IdempotencyKey.objects.values_list("key", flat=True)) == set(self.first)


@pytest.mark.django_db
def test_keys_hold_in_any_order_of_requests() -> None:
    run_state_machine_as_test(
        KeyedClient,
        settings=settings(
            max_examples=25,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
