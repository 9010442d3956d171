"""The gateway's errors, each rendered as an OpenAI error body with its HTTP status.

    GatewayError                      (500 internal_error)
    ├── InvalidRequest                (400 invalid_request)
    │   ├── ImageUrlNotSupported      (400 image_url_not_supported)
    │   ├── UnsupportedContent        (400 unsupported_content, + param: a part outside the allow-list)
    │   ├── UnsupportedParameter      (400 unsupported_parameter, + param)
    │   └── ModelDoesNotSupportImages (400 model_does_not_support_images)
    ├── InvalidApiKey                 (401 invalid_api_key)
    │   └── KeyExpired                (401 key_expired: past the key's expires_at)
    ├── BudgetExceeded                (402 budget_exceeded, + scope, period, resets_at)
    ├── ModelNotAllowed               (403 model_not_allowed)
    ├── Forbidden                     (403 forbidden: an admin route without an admin key, a model with one)
    ├── NotFound                      (404 not_found)
    │   ├── ModelNotFound             (404 model_not_found, + suggestions)
    │   ├── NoRoute                   (404 no_route, + funnel, available_providers)
    │   ├── GenerationNotFound        (404 generation_not_found)
    │   └── ResponseNotFound          (404 response_not_found)
    ├── MethodNotAllowed              (405 method_not_allowed)
    ├── RequestTimeout                (408 request_timeout: `routeway serve` got no whole body in time)
    ├── AlreadyExists                 (409 already_exists: a key or team name taken)
    ├── RequestTooLarge               (413 request_too_large)
    ├── RateLimited                   (429 rate_limited, + Retry-After)
    │   └── UpstreamRateLimited       (429 upstream_rate_limited, + Retry-After: every attempt got 429)
    ├── UpstreamError                 (502 upstream_error, + attempts)
    ├── ServiceUnavailable            (503)
    │   ├── BackendUnavailable        (503 backend_unavailable)
    │   │   ├── BackendCannotServe    (400 backend_unavailable: Bedrock has not enabled the model)
    │   │   └── BackendAccessDenied   (403 backend_unavailable: the function's role lacks bedrock:InvokeModel)
    │   ├── CatalogUnavailable        (503 catalog_unavailable)
    │   └── StoreUnavailable          (503 store_unavailable)
    └── UpstreamTimeout               (504 upstream_timeout)

RoutewayError is the root of both: GatewayError (above: what a client is told) and the internal ones, which
are never rendered as they are:

    RoutewayError
    ├── GatewayError                  (the tree above)
    ├── ConflictError                 a conditional write lost its race; services decide what it means
    ├── MinuteFull                    a reservation's rpm count found its minute full (ports.py StateStore.reserve)
    ├── UpstreamFailure               an upstream call with no usable answer (ports.py)
    │   ├── UpstreamUnreachable       connection refused or reset, DNS, TLS
    │   └── UpstreamNoAnswer          no answer within the attempt's time
    ├── SourceError                   a catalog source gave no complete catalog (ports.py)
    ├── CatalogDataError              malformed catalog data (domain/normalize.py)
    ├── SSEError                      a byte stream that cannot be SSE (domain/sse.py)
    ├── DeadlinePassed                a stream ran past its request's deadline (services/streaming.py)
    ├── ConfigError                   an unusable aliases/backends file (config.py)
    ├── BedrockRequestError           a chat payload Converse cannot carry: the client's 400 (domain/bedrock_wire.py)
    ├── PriceError                    a Bedrock price that is not USD per million tokens (domain/bedrock_prices.py)
    ├── _Answered                     Bedrock's error, read by the core as an upstream answer (adapters/bedrock.py)
    └── SettingsError                 an unusable environment variable (settings.py)

Messages never contain keys or prompt text: callers pass only what is safe to show.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RoutewayError(Exception):
    """The root of every exception Routeway raises on purpose."""


class UpstreamFailure(RoutewayError):
    """An upstream call that got no usable answer at the transport level (ports: unreachable, no answer in
    time): the core turns it into a failed attempt, never into a client error directly."""


class GatewayError(RoutewayError):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    error_type: ClassVar[str] = "api_error"

    def __init__(self, message: str, *, param: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        """The OpenAI error shape: message, type, param and code always present."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "param": self.param,
            "code": self.code,
        }
        error.update(self.extra)
        return {"error": error}


class InvalidRequest(GatewayError):
    status = 400
    code = "invalid_request"
    error_type = "invalid_request_error"


class ImageUrlNotSupported(InvalidRequest):
    code = "image_url_not_supported"


class UnsupportedContent(InvalidRequest):
    code = "unsupported_content"


class ModelDoesNotSupportImages(InvalidRequest):
    code = "model_does_not_support_images"


class InvalidApiKey(GatewayError):
    status = 401
    code = "invalid_api_key"
    error_type = "authentication_error"


class BudgetExceeded(GatewayError):
    status = 402
    code = "budget_exceeded"
    error_type = "insufficient_quota"


class ModelNotAllowed(GatewayError):
    status = 403
    code = "model_not_allowed"
    error_type = "permission_error"


class NotFound(GatewayError):
    status = 404
    code = "not_found"
    error_type = "invalid_request_error"


class ModelNotFound(NotFound):
    code = "model_not_found"


class NoRoute(NotFound):
    code = "no_route"


class GenerationNotFound(NotFound):
    code = "generation_not_found"


class ResponseNotFound(NotFound):
    code = "response_not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "method_not_allowed"
    error_type = "invalid_request_error"


class RequestTimeout(GatewayError):
    """The body did not arrive within ROUTEWAY_SERVE_BODY_TIMEOUT_S of its headers (`routeway serve` only)."""

    status = 408
    code = "request_timeout"
    error_type = "invalid_request_error"


class RequestTooLarge(GatewayError):
    status = 413
    code = "request_too_large"
    error_type = "invalid_request_error"


class RateLimited(GatewayError):
    status = 429
    code = "rate_limited"
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after_s: int, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.headers["Retry-After"] = str(max(1, retry_after_s))


class UpstreamRateLimited(RateLimited):
    code = "upstream_rate_limited"


class UnsupportedParameter(InvalidRequest):
    code = "unsupported_parameter"


class UpstreamError(GatewayError):
    status = 502
    code = "upstream_error"


class ServiceUnavailable(GatewayError):
    status = 503
    code = "service_unavailable"


class BackendUnavailable(ServiceUnavailable):
    code = "backend_unavailable"


class BackendCannotServe(BackendUnavailable):
    """The backend cannot take this request as it is (Bedrock: a model the account has not enabled, content Converse
    cannot carry); another backend may. An attempt that could not be made, but the client is told 400."""

    status = 400
    error_type = "invalid_request_error"


class BackendAccessDenied(BackendUnavailable):
    """The backend refused the gateway's own role (Bedrock's AccessDenied): the message names the permission.
    An attempt that could not be made, as for BackendUnavailable, but the client is told 403."""

    status = 403
    error_type = "permission_error"


class CatalogUnavailable(ServiceUnavailable):
    code = "catalog_unavailable"


class StoreUnavailable(ServiceUnavailable):
    code = "store_unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    code = "upstream_timeout"


class MinuteFull(RoutewayError):
    """A reservation that also counts its request against the key's rpm found the minute full: nothing was
    written (the ledger answers 429, services/admission.py made the refusal)."""

    def __init__(self, count: int) -> None:
        super().__init__(f"the minute's count is {count}")
        self.count = count


class ConflictError(RoutewayError):
    """A conditional write found the state changed under it (another writer won)."""


class ResponseTooLarge(GatewayError):
    """The upstream answered (and billed) more than this entry can return: never truncated."""

    status = 502
    code = "response_too_large"


class KeyExpired(InvalidApiKey):
    code = "key_expired"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"
    error_type = "permission_error"


class AlreadyExists(GatewayError):
    status = 409
    code = "already_exists"
    error_type = "invalid_request_error"
