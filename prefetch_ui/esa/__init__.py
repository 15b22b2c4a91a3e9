"""A typed client for Alibaba Cloud ESA's scheduled-prefetch OpenAPI. No Django in here."""

from __future__ import annotations

from .client import EsaClient
from .errors import (
    EsaAmbiguousResultError,
    EsaApiError,
    EsaAuthError,
    EsaBadAnswerError,
    EsaError,
    EsaInvalidParameterError,
    EsaNotFoundError,
    EsaResponseError,
    EsaServerError,
    EsaThrottledError,
    EsaTransportError,
)
from .rpc import API_VERSION, CallObserver, RetryPolicy
from .times import EsaTimeError, format_esa_time, parse_esa_time
from .types import (
    CreatePlansResult,
    InstanceQuota,
    InstanceQuotas,
    Job,
    Page,
    Plan,
    PlanSpec,
    PurgeQuota,
    Site,
)

__all__ = [
    "API_VERSION",
    "CallObserver",
    "CreatePlansResult",
    "EsaAmbiguousResultError",
    "EsaApiError",
    "EsaAuthError",
    "EsaBadAnswerError",
    "EsaClient",
    "EsaError",
    "EsaInvalidParameterError",
    "EsaNotFoundError",
    "EsaResponseError",
    "EsaServerError",
    "EsaThrottledError",
    "EsaTimeError",
    "EsaTransportError",
    "InstanceQuota",
    "InstanceQuotas",
    "Job",
    "Page",
    "Plan",
    "PlanSpec",
    "PurgeQuota",
    "RetryPolicy",
    "Site",
    "format_esa_time",
    "parse_esa_time",
]
