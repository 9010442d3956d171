"""Where budget threshold alerts go: a log line always, a webhook when ROUTEWAY_ALERT_WEBHOOK is set, and an
EventBridge event (source `routeway`, detail-type `Budget threshold crossed`) on AWS. A failure to deliver is
logged, never raised: the charge that crossed the threshold is already written."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from routeway.ports import Alerts

log = logging.getLogger("routeway.alerts")
SOURCE = "routeway"
DETAIL_TYPE = "Budget threshold crossed"
WEBHOOK_TIMEOUT_S = 3.0  # on Lambda the invocation waits for it (see services/ledger.py)


def _describe(detail: Mapping[str, Any]) -> str:
    return (
        f"{detail['scope']} {detail['name']!r} spent ${detail['spend_usd']:.6f} of its ${detail['budget_usd']:.6f} "
        f"{detail['period']} budget: past {detail['threshold']:.0%}"
    )


class LogAlerts:
    async def budget_threshold_crossed(self, detail: Mapping[str, Any]) -> None:
        log.warning(f"budget threshold crossed: {_describe(detail)}", extra={"alert": dict(detail)})


class WebhookAlerts:
    """A POST of the alert's JSON (the EventBridge event's detail) to the operator's URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def budget_threshold_crossed(self, detail: Mapping[str, Any]) -> None:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as client:
                answer = await client.post(self.url, content=orjson.dumps(dict(detail)), headers=_JSON)
            if answer.status_code >= 300:
                log.error("budget alert webhook refused it", extra={"status": answer.status_code})
        except httpx.HTTPError as exc:
            log.error("budget alert webhook unreachable", extra={"error": exc.__class__.__name__})


_JSON = {"content-type": "application/json", "user-agent": "routeway-alerts"}


class EventBridgeAlerts:
    """An event on the account's bus: rules route it to SNS, Slack through Chatbot, or a ticket."""

    def __init__(self, session: Any, bus: str) -> None:
        self._session = session
        self._client: Any = None  # made with the first alert: nothing at build time
        self.bus = bus

    async def budget_threshold_crossed(self, detail: Mapping[str, Any]) -> None:
        entry = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": orjson.dumps(dict(detail)).decode(),
            "EventBusName": self.bus,
        }
        try:
            if self._client is None:
                self._client = await asyncio.to_thread(self._session.client, "events")
            answer = await asyncio.to_thread(self._client.put_events, Entries=[entry])
        except Exception as exc:  # noqa: BLE001 (botocore's errors, whatever they are, end here)
            log.error("budget alert not sent to EventBridge", extra={"error": exc.__class__.__name__})
            return
        if answer.get("FailedEntryCount"):
            log.error("budget alert refused by EventBridge", extra={"entries": answer.get("Entries")})


class AllAlerts:
    def __init__(self, sinks: Sequence[Alerts]) -> None:
        self.sinks = list(sinks)

    async def budget_threshold_crossed(self, detail: Mapping[str, Any]) -> None:
        await asyncio.gather(*(sink.budget_threshold_crossed(detail) for sink in self.sinks))
