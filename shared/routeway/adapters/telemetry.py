"""Completion and refresh metrics as CloudWatch EMF through Powertools Metrics, flushed by the Lambda entry
point at the end of each invocation (`routeway.runtime`)."""

from __future__ import annotations

from typing import Any


class PowertoolsTelemetry:
    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics

    def completion(
        self,
        *,
        latency_ms: float,
        attempts: int,
        cost_usd: float | None,
        error_code: str | None,
        catalog_age_s: float | None,
    ) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        add = self._metrics.add_metric
        add(name="Latency", unit=MetricUnit.Milliseconds, value=latency_ms)
        add(name="Attempts", unit=MetricUnit.Count, value=attempts)
        add(name="Fallbacks", unit=MetricUnit.Count, value=max(0, attempts - 1))
        if cost_usd is not None:
            add(name="CostUSD", unit=MetricUnit.NoUnit, value=cost_usd)
        if error_code is not None:
            add(name="Errors", unit=MetricUnit.Count, value=1)
            add(name=f"Error_{error_code}", unit=MetricUnit.Count, value=1)
        if catalog_age_s is not None:
            add(name="CatalogAge", unit=MetricUnit.Seconds, value=catalog_age_s)

    def catalog_refreshed(self, *, outcome: str, catalog_age_s: float | None) -> None:
        """`CatalogAgeSeconds`: the stack's catalog alarms watch it (too old, or not reported at all)."""
        from aws_lambda_powertools.metrics import MetricUnit

        if catalog_age_s is not None:
            self._metrics.add_metric(name="CatalogAgeSeconds", unit=MetricUnit.Seconds, value=catalog_age_s)
            self._metrics.add_metadata(key="refresh_outcome", value=outcome)  # in the log line, not a metric
