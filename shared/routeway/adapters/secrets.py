"""Where the upstream key comes from: the environment locally, SSM Parameter Store in AWS.

In AWS the template passes only the parameter's name (OPENROUTER_API_KEY_PARAM); the value is read
on first use through Powertools Parameters and cached, never placed in environment variables.
"""

from __future__ import annotations

SSM_CACHE_SECONDS = 300


class SsmSecrets:
    def get(self, name: str) -> str | None:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_parameter(name, decrypt=True, max_age=SSM_CACHE_SECONDS)
        return str(value) if value else None


class StaticSecrets:
    """Secrets given up front (from the environment, or by a test)."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def get(self, name: str) -> str | None:
        return self._values.get(name)
