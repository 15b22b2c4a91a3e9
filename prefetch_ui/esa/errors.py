"""The ESA client's exceptions.

EsaError
├── EsaTransportError            the request got no usable answer (connection, timeout)
│   └── EsaAmbiguousResultError  a create may or may not have landed; do not blindly resend
├── EsaResponseError             an answer that is not the JSON ESA sends
│   └── EsaBadAnswerError        ESA's JSON, with a field that cannot be read (a time, a number)
└── EsaApiError                  ESA answered with an error Code
    ├── EsaThrottledError        TooManyRequests, Throttling.*, or x-acs-retry-after
    ├── EsaNotFoundError         InvalidJob.NotFound, InvalidExecution.NotFound, ...
    ├── EsaInvalidParameterError InvalidParameter.*, InvalidEndTime.Mismatch, Missing*, quota
    ├── EsaAuthError             signature, AccessKey, timestamp, nonce, permission
    └── EsaServerError           5xx: InternalError, ServiceUnavailable
"""

from __future__ import annotations

__all__ = [
    "EsaAmbiguousResultError",
    "EsaApiError",
    "EsaAuthError",
    "EsaBadAnswerError",
    "EsaError",
    "EsaInvalidParameterError",
    "EsaNotFoundError",
    "EsaResponseError",
    "EsaServerError",
    "EsaThrottledError",
    "EsaTransportError",
    "api_error_from_response",
]


class EsaError(Exception):
    """Base class of every error the ESA client raises."""

    def __init__(self, message: str, *, action: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.action = action


class EsaTransportError(EsaError):
    """No usable answer: the connection failed or timed out."""


class EsaAmbiguousResultError(EsaTransportError):
    """A create call failed in a way that leaves unknown whether ESA acted on it.

    The client never resends such a call: the caller must look (list the jobs or plans) before
    trying again, or it may create the same thing twice.
    """


class EsaResponseError(EsaError):
    """ESA answered, but not with the JSON it always sends."""

    def __init__(self, message: str, *, action: str = "", status: int = 0) -> None:
        super().__init__(message, action=action)
        self.status = status


class EsaBadAnswerError(EsaResponseError):
    """A successful answer holding a value the client cannot read: a time without a zone, a count
    that is not a number. Raised instead of a bare ValueError, so that every handler of `EsaError`
    sees it; sending the call again would get the same answer."""

    def __init__(self, message: str, *, field: str, value: object, action: str = "") -> None:
        super().__init__(message, action=action, status=200)
        self.field = field
        self.value = value


class EsaApiError(EsaError):
    """ESA answered with an error: HTTP status, `Code`, `Message` and `RequestId`.

    `retry_after` is how many seconds ESA asked us to wait (its `x-acs-retry-after`), when it said.
    """

    def __init__(
        self,
        *,
        status: int,
        code: str,
        message: str,
        request_id: str,
        action: str = "",
        recommend: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, action=action)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.recommend = recommend
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code} (HTTP {self.status}): {self.message} [RequestId {self.request_id or '-'}]"


class EsaThrottledError(EsaApiError):
    """ESA asked us to slow down; `retry_after` is in seconds when ESA said how long."""


class EsaNotFoundError(EsaApiError):
    """The job, plan, log or AccessKey does not exist."""


class EsaInvalidParameterError(EsaApiError):
    """ESA refused the request's parameters; sending it again will not help."""


class EsaAuthError(EsaApiError):
    """The request's signature, AccessKey, timestamp, nonce or permissions were refused."""


class EsaServerError(EsaApiError):
    """ESA failed on its side (5xx); the request may be retried."""


_AUTH_CODES = frozenset(
    {
        "IncompleteSignature",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "SignatureNonceUsed",
        "InvalidTimeStamp.Expired",
        "InvalidTimeStamp.Format",
        "InvalidUid.PermissionDenied",
        "Forbidden.RAM",
    }
)
_THROTTLE_CODES = frozenset({"TooManyRequests", "Throttling", "Throttling.User", "Throttling.Api"})


def api_error_from_response(
    *,
    status: int,
    code: str,
    message: str,
    request_id: str,
    action: str,
    recommend: str = "",
    retry_after: float | None = None,
) -> EsaApiError:
    """Map an ESA error answer to the most specific exception class."""
    throttled = retry_after is not None or code in _THROTTLE_CODES or code.startswith("Throttling")
    error_class: type[EsaApiError]
    # Auth codes come before the status: InvalidAccessKeyId.NotFound is a 404 but means "bad key".
    if throttled and code not in _AUTH_CODES:
        error_class = EsaThrottledError
    elif code in _AUTH_CODES:
        error_class = EsaAuthError
    elif status >= 500:
        error_class = EsaServerError
    elif status == 404 or code.endswith(".NotFound") or code == "LogNotFound":
        error_class = EsaNotFoundError
    elif status == 403:
        error_class = EsaAuthError
    else:
        error_class = EsaInvalidParameterError
    return error_class(
        status=status,
        code=code,
        message=message,
        request_id=request_id,
        action=action,
        recommend=recommend,
        retry_after=retry_after if error_class is EsaThrottledError else None,
    )
