"""The one error family that every layer raises, so the CLI and the server can show it without a traceback."""

from __future__ import annotations


class SmallfirstError(Exception):
    """An error a user can act on. ``hint`` names the way out."""

    #: HTTP status the gateway maps this error to.
    status: int = 400
    #: OpenAI error ``type`` for the gateway.
    kind: str = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.param = param

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class ConfigError(SmallfirstError):
    """A setting, a config file, a command option or a name a user gave cannot be used (HTTP 400): an unknown
    backend or router, an invalid task name, a missing optional extra."""

    code = "bad_config"


class UnknownModelError(SmallfirstError):
    """No configured, catalogued or registered model has this name, and it is no .gguf path (HTTP 404, OpenAI's
    ``model_not_found``)."""

    status = 404
    code = "model_not_found"


class ModelFileError(SmallfirstError):
    """A model file is missing, corrupt or not what its catalogue entry says."""

    status = 500
    kind = "server_error"
    code = "model_file"


class ContextOverflowError(SmallfirstError):
    """The prompt (in tokens) does not fit the model's context window (HTTP 413, OpenAI's
    ``context_length_exceeded``)."""

    status = 413
    code = "context_length_exceeded"


class UpstreamError(SmallfirstError):
    """An endpoint failed. ``upstream_status`` is the HTTP status it returned, if any."""

    status = 502
    kind = "api_error"
    code = "upstream_error"

    def __init__(self, message: str, *, upstream_status: int | None = None, retry_after: float | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.upstream_status = upstream_status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """True when trying again (or a fallback) may help: no HTTP status (a connection or timeout failure),
        429, or any 5xx. Other 4xx mean the request itself is wrong."""
        return self.upstream_status is None or self.upstream_status == 429 or self.upstream_status >= 500


class DataError(SmallfirstError):
    """Bad input data: an outcome file, a training set, a workload."""

    code = "bad_data"


class NotFittedError(SmallfirstError):
    """A router was asked to score before ``fit`` gave it outcome data."""

    code = "not_fitted"


class TargetUnreachableError(SmallfirstError):
    """No threshold on the quality-against-share curve meets the calibration target (a quality fraction or a
    budget); the hint names the best reachable value."""

    code = "target_unreachable"


class AuthError(SmallfirstError):
    """A missing, unknown or revoked gateway key."""

    status = 401
    code = "invalid_api_key"


class ForbiddenError(SmallfirstError):
    """The key is valid but may not use the model or policy it asked for."""

    status = 403
    kind = "permission_error"
    code = "model_not_allowed"


class PayloadTooLargeError(SmallfirstError):
    """A gateway request body is larger than the configured limit, in bytes (HTTP 413)."""

    status = 413
    code = "request_too_large"


class RateLimitedError(SmallfirstError):
    """A gateway refusal the client should retry later; ``retry_after`` is seconds."""

    status = 429
    kind = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class BudgetExceededError(RateLimitedError):
    """A gateway key's remaining budget (USD, per period) cannot hold this request's worst-case cost; ``retry_after``
    is the seconds until the period resets, a day for a "total" budget (HTTP 429, OpenAI's
    ``insufficient_quota``)."""

    kind = "insufficient_quota"
    code = "budget_exceeded"


class OverloadedError(SmallfirstError):
    """A local model's queue is full: refuse now rather than wait without bound."""

    status = 503
    kind = "server_error"
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after
