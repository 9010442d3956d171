"""RELIABILITY 55 in the pure parts: an unreadable SSM parameter's error by code."""

from __future__ import annotations

import pytest

from routeway.adapters.secrets import unreadable
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
