"""How a service tells the operations outbox what became of an action, in its own terms.

The ESA client's exceptions describe one HTTP call; these describe the operation: failed for good,
or to be tried again later. Both carry a code (ESA's, or ours), a message and ESA's RequestId, so
the page can say why.
"""

from __future__ import annotations

from typing import Self

from prefetch_ui.esa import EsaError

from ..models import ESA_CODE_LENGTH, ESA_REQUEST_ID_LENGTH


class OperationOutcomeError(Exception):
    """An operation that did not succeed: `code`, `message` and ESA's `request_id` (if any)."""

    def __init__(self, code: str, message: str, *, request_id: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id

    @classmethod
    def from_esa(cls, error: EsaError, *, message: str = "") -> Self:
        code = getattr(error, "code", "") or type(error).__name__
        return cls(code, message or error.message, request_id=getattr(error, "request_id", ""))

    def fields(self) -> dict[str, object]:
        """The operation's error columns."""
        return {
            "error_code": self.code[:ESA_CODE_LENGTH],
            "error_message": self.message[:2000],
            "request_id": self.request_id[:ESA_REQUEST_ID_LENGTH],
        }


class OperationFailedError(OperationOutcomeError):
    """Failed for good: sending it again as it is would fail the same way."""


class RetryLaterError(OperationOutcomeError):
    """Not done, and it may work later (ESA unwell, or a create whose answer was lost and must be
    looked for first): the operation goes back to pending and is sent again, within its attempts."""
