"""Where the upstream key comes from: the environment locally, SSM Parameter Store in AWS.

In AWS the template passes only the parameter's name (OPENROUTER_API_KEY_PARAM); the value is read
on first use through Powertools Parameters and cached, never placed in environment variables.
A parameter that is missing, denied, empty or unreachable is 503 `backend_unavailable` naming it
(and what to grant or create), never a 500. Only a good read is cached: once the parameter is
created or the permission granted, the next request reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routeway.errors import BackendUnavailable

if TYPE_CHECKING:
    from routeway.adapters.aws_common import AwsSession

SSM_CACHE_SECONDS = 300
TEMPLATE_PARAMETER = "OpenRouterKeyParameterName"  # template.yaml's parameter that names the SSM parameter
NOT_FOUND = frozenset({"ParameterNotFound", "ParameterVersionNotFound"})
DENIED = frozenset({"AccessDeniedException", "AccessDenied"})
# KMS refusing to decrypt for SSM (by code; an IAM denial of kms:Decrypt arrives as AccessDeniedException)
KMS_REFUSED = frozenset(
    {"KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException", "KMSNotFoundException"}
)


class SsmSecrets:
    """SecureStrings read with decryption through one Powertools SSMProvider (its own cache, this process's).

    `session`: the AwsSession the gateway's AWS stores use (wiring.py), so the SSM client is made from the
    botocore data they load anyway (a session of its own loaded it all again: ~40 ms of a cold start)."""

    def __init__(self, session: AwsSession | None = None) -> None:
        self._provider: Any = None
        self._session = session

    def _ssm(self) -> Any:
        if self._provider is None:  # made on first use, after moto (tests) or the Lambda role is in place
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            from routeway.adapters.aws_common import AwsSession

            # short timeouts and few retries: the read happens inside a request's deadline; botocore's
            # wire logs (which would carry the decrypted value) are kept at INFO
            self._provider = SSMProvider(boto3_client=(self._session or AwsSession()).client("ssm"))
        return self._provider

    def get(self, name: str) -> str | None:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        provider = self._ssm()
        try:
            value = provider.get(name, decrypt=True, max_age=SSM_CACHE_SECONDS)
        except GetParameterError as exc:
            raise unreadable(name, exc, provider.client) from None
        key = str(value).strip() if value is not None else ""
        if not key:
            provider.clear_cache()  # an empty value is never kept: the next request reads the parameter again
            raise BackendUnavailable(
                f"The OpenRouter key cannot be used: SSM parameter {name!r} is empty. Put the key in it: "
                f"aws ssm put-parameter --overwrite --type SecureString --name {name} --value sk-or-..."
            )
        return key


def _library_error(exc: BaseException) -> BaseException:
    """The boto error Powertools wrapped: its GetParameterError is raised while handling it."""
    return exc.__cause__ or exc.__context__ or exc


def _parameter_arn(name: str, client: Any) -> str:
    meta = getattr(client, "meta", None)
    partition = getattr(meta, "partition", None) or "aws"
    region = getattr(meta, "region_name", None) or "<region>"
    return f"arn:{partition}:ssm:{region}:<account>:parameter/{name.lstrip('/')}"


def unreadable(name: str, exc: BaseException, client: Any = None) -> BackendUnavailable:
    """What a failed read means, by error code (never by message text), naming the parameter and the fix.

    AWS's own message is not repeated: it names the caller's role and account, and nothing in it is needed."""
    from botocore.exceptions import ClientError

    cause = _library_error(exc)
    code = str(cause.response.get("Error", {}).get("Code", "")) if isinstance(cause, ClientError) else ""
    if code in NOT_FOUND:
        return BackendUnavailable(
            f"The OpenRouter key cannot be read: SSM parameter {name!r} does not exist (the stack's "
            f"{TEMPLATE_PARAMETER} names it). Create it: aws ssm put-parameter --type SecureString "
            f"--name {name} --value sk-or-..."
        )
    if code in DENIED or code in KMS_REFUSED:
        decrypt = "kms:Decrypt on the customer-managed KMS key that encrypts it"
        grant = f"ssm:GetParameter on {_parameter_arn(name, client)}"
        needs = f"{decrypt} (and {grant})" if code in KMS_REFUSED else f"{grant} (and {decrypt}, if one does)"
        return BackendUnavailable(
            f"The OpenRouter key cannot be read: access to SSM parameter {name!r} was denied ({code}). "
            f"The function's role needs {needs}."
        )
    what = code or cause.__class__.__name__
    return BackendUnavailable(
        f"The OpenRouter key cannot be read: SSM parameter {name!r} could not be read now ({what}). "
        "Retry shortly; if this persists, check that the function can reach SSM."
    )


class StaticSecrets:
    """Secrets given up front (from the environment, or by a test)."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def get(self, name: str) -> str | None:
        return self._values.get(name)
