"""RELIABILITY 55 in the pure parts: an unreadable SSM parameter's error by code, and the fallback rules for an
attempt the gateway could not send."""

from __future__ import annotations

import pytest

from routeway.adapters.secrets import unreadable
from routeway.domain.fallback import cools_down, final_error, is_hard_failure, skips_backend
from routeway.errors import BackendUnavailable

NAME = "/routeway/openrouter-api-key"


def _client_error(code: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "arn:aws:iam::123456789012:role/x sk-or-v1-x"}}, "Get")


def _as_powertools_raises(cause: Exception) -> Exception:
    """Powertools raises its GetParameterError while handling the boto error (no `from`): only __context__."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        try:
            raise cause
        except Exception as exc:
            raise GetParameterError(str(exc))  # noqa: B904 - as Powertools does
    except GetParameterError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("ParameterNotFound", "does not exist"),
        ("AccessDeniedException", "ssm:GetParameter on arn:aws:ssm:<region>:<account>:parameter/routeway/"),
        ("KMSAccessDeniedException", "needs kms:Decrypt on the customer-managed KMS key"),
        ("ThrottlingException", "could not be read now (ThrottlingException)"),
        ("InternalServerError", "could not be read now (InternalServerError)"),
    ],
)
def test_rel_55_each_failure_is_a_503_naming_the_parameter_by_its_code(code: str, says: str) -> None:
    error = unreadable(NAME, _as_powertools_raises(_client_error(code)))
    assert isinstance(error, BackendUnavailable) and (error.status, error.code) == (503, "backend_unavailable")
    assert repr(NAME) in error.message and says in error.message
    assert "123456789012" not in error.message and "sk-or" not in error.message.replace("sk-or-...", "")


def test_rel_55_a_library_failure_without_a_code_is_named_by_its_class() -> None:
    from botocore.exceptions import EndpointConnectionError

    error = unreadable(NAME, _as_powertools_raises(EndpointConnectionError(endpoint_url="https://ssm.example")))
    assert "could not be read now (EndpointConnectionError)" in error.message


def test_rel_55_an_attempt_not_sent_skips_its_backend_cools_nothing_and_is_what_the_client_is_told() -> None:
    assert skips_backend(None, "backend_unavailable") and not skips_backend(None, "timeout")
    assert not cools_down(None, "backend_unavailable") and cools_down(None, "timeout")
    assert is_hard_failure(None, "backend_unavailable")
    # an upstream that answers with the same code did see the request: the usual rules apply
    assert cools_down(503, "backend_unavailable") and not skips_backend(503, "backend_unavailable")
    assert final_error([None, None], ["backend_unavailable"] * 2, out_of_time=False) == "backend_unavailable"
    assert final_error([500, None], ["http_500", "backend_unavailable"], out_of_time=False) == "upstream_error"
    assert final_error([None], ["timeout"], out_of_time=True) == "timeout"
