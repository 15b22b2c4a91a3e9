"""A faithful local simulator of Alibaba Cloud ESA's scheduled-prefetch OpenAPI.

It speaks the real wire protocol (RPC style; ACS3-HMAC-SHA256, ACS3-HMAC-SM3 and the RPC HMAC-SHA1
signature, see `signatures.py`; ESA's error codes),
keeps its state in a SQLite file and advances plans over (optionally accelerated) time.
"""

from __future__ import annotations

from .actions import Limits, Quotas
from .app import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, EsaSimulator, SimConfig
from .store import DEMO_SITE_ID, SEED_SITES, SubmittedBatch, submitted_batches

__all__ = [
    "DEMO_ACCESS_KEY_ID",
    "DEMO_ACCESS_KEY_SECRET",
    "DEMO_SITE_ID",
    "SEED_SITES",
    "EsaSimulator",
    "Limits",
    "Quotas",
    "SimConfig",
    "SubmittedBatch",
    "submitted_batches",
]
