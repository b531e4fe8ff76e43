"""Alerts for violations: one per violation until it recovers.

A failing or erroring check opens an alert (sent once); while it stays open
nothing more is sent; when the check passes again a recovery is sent to the
same channels (PagerDuty gets `resolve` with the same `dedup_key`) and the
alert closes. Which channels: `alerts.critical` for critical checks
(PagerDuty by default), `alerts.default` for the rest (Slack and email).

Secrets come from the environment only:
  ORCH_SLACK_WEBHOOK_URL       Slack incoming webhook (Block Kit messages)
  ORCH_PAGERDUTY_ROUTING_KEY   PagerDuty Events API v2 integration key
  ORCH_PAGERDUTY_URL           the Events API endpoint (default PagerDuty's own)
  ORCH_ALERT_EMAIL, ORCH_SMTP_*  email, as for the generated code's alerts
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import attrs

from orch.compiler.shared.alerting import email_recipients, post_json, send_email
from orch.monitor.checks import ERROR, FAIL, Result
from orch.monitor.config import AlertRouting

log = logging.getLogger("orch.monitor")
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


@attrs.frozen(kw_only=True)
class AlertChanges:
    opened: tuple[tuple[str, str, str], ...] = ()  # (key, message, channels)
    closed: tuple[str, ...] = ()
    sent: tuple[tuple[str, str, str], ...] = ()  # (channel, action, key), for the run summary


def configured(channel: str) -> bool:
    if channel == "slack":
        return bool(os.environ.get("ORCH_SLACK_WEBHOOK_URL"))
    if channel == "pagerduty":
        return bool(os.environ.get("ORCH_PAGERDUTY_ROUTING_KEY"))
    return bool(email_recipients())


def unconfigured(routing: AlertRouting) -> list[str]:
    """Channels the routing names whose secret is not in the environment."""
    named = {c for c in (*routing.critical, *routing.default)} if routing.enabled else set()
    return sorted(c for c in named if not configured(c))


def dedup_key(result: Result) -> str:
    return f"orch/{result.key}"


def _title(result: Result, recovered: bool) -> str:
    if recovered:
        return f"RECOVERED {result.subject} {result.check}"
    word = "ERROR" if result.status == ERROR else "FAILED"
    return f"{word} {result.subject} {result.check}" + (" (critical)" if result.critical else "")


def slack_payload(result: Result, recovered: bool, source: str) -> dict:
    title = _title(result, recovered)
    icon = ":white_check_mark:" if recovered else (":rotating_light:" if result.critical else ":warning:")
    fields = [
        {"type": "mrkdwn", "text": f"*{result.subject_type.capitalize()}*\n`{result.subject}`"},
        {"type": "mrkdwn", "text": f"*Check*\n{result.check} ({result.kind})"},
        {"type": "mrkdwn", "text": f"*Status*\n{result.status}"},
        {"type": "mrkdwn", "text": f"*Owner*\n{result.owner or '-'}"},
    ]
    return {
        "text": f"{title}: {result.message}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {result.message}"[:3000]}},
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
                                              f"{source} · {result.checked_at.isoformat(timespec='seconds')} · "
                                              f"dedup `{dedup_key(result)}`"}]},
        ],
    }


def pagerduty_payload(result: Result, recovered: bool, source: str) -> dict:
    body = {
        "routing_key": os.environ.get("ORCH_PAGERDUTY_ROUTING_KEY", ""),
        "event_action": "resolve" if recovered else "trigger",
        "dedup_key": dedup_key(result),
    }
    if not recovered:
        body["payload"] = {
            "summary": f"{_title(result, False)}: {result.message}"[:1024],
            "source": result.subject,
            "severity": "critical" if result.critical else "error",
            "component": result.subject,
            "group": source,
            "class": result.kind,
            "timestamp": result.checked_at.isoformat(),
            "custom_details": {"check": result.check, "status": result.status, "observed": result.observed,
                               "threshold": result.threshold, "owner": result.owner},
        }
    return body


def _send(channel: str, result: Result, recovered: bool, source: str) -> bool:
    if channel == "slack":
        return post_json(os.environ["ORCH_SLACK_WEBHOOK_URL"], slack_payload(result, recovered, source))
    if channel == "pagerduty":
        url = os.environ.get("ORCH_PAGERDUTY_URL", PAGERDUTY_EVENTS_URL)
        return post_json(url, pagerduty_payload(result, recovered, source))
    title = f"[orch] {_title(result, recovered)}"
    text = (f"{result.message}\n\n{result.subject_type}: {result.subject}\ncheck: {result.check} ({result.kind})\n"
            f"status: {result.status}\nowner: {result.owner or '-'}\nchecked at: {result.checked_at.isoformat()}\n"
            f"source: {source}\n")
    return send_email(title, text, email_recipients())


def process(results: Sequence[Result], routing: AlertRouting, open_alerts: dict[str, tuple[str, str]],
            source: str) -> AlertChanges:
    """Send what the results call for, given the alerts open before this run."""
    opened, closed, sent = [], [], []
    for result in results:
        key = dedup_key(result)
        violating = result.status in (FAIL, ERROR)
        if violating and key not in open_alerts:
            channels = [c for c in routing.channels(result.critical) if configured(c)]
            delivered = [c for c in channels if _send(c, result, False, source)]
            sent.extend((c, "trigger", key) for c in delivered)
            # Keep the alert closed when nothing got through, so the next run tries again.
            if delivered or not channels:
                opened.append((key, result.message, ",".join(delivered)))
        elif not violating and key in open_alerts:
            channels = [c for c in open_alerts[key][1].split(",") if c and configured(c)]
            for channel in channels:
                if _send(channel, result, True, source):
                    sent.append((channel, "resolve", key))
            closed.append(key)
    return AlertChanges(opened=tuple(opened), closed=tuple(closed), sent=tuple(sent))
