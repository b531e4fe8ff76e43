"""Alerting for the code orch generates: one module, written out as `orch_alerts.py`.

Generated folders must not depend on orch being installed, so the backends
copy this module (standard library only) next to what they generate, and the
support modules there import it. Settings come from the environment only, so
no webhook URL or address ever sits in a generated file:

  ORCH_SLACK_WEBHOOK_URL   Slack incoming webhook to post alerts to
  ORCH_ALERT_EMAIL         comma-separated recipients of alert emails
  ORCH_SMTP_HOST / ORCH_SMTP_PORT / ORCH_SMTP_FROM   the mail relay (default localhost:25)
  ORCH_SMTP_USER / ORCH_SMTP_PASSWORD / ORCH_SMTP_STARTTLS   relay login, when it wants one

The monitors (`orch health`, `orch sla`) send through the same functions.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.parse
import urllib.request
from email.message import EmailMessage

log = logging.getLogger("orch.alerts")


def post_json(url: str, payload: dict, timeout: float = 10) -> bool:
    """POST a JSON document; False (and a log line) when it did not arrive."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=timeout).close()
        return True
    except OSError as exc:
        # The host only: the rest of a webhook URL is its secret.
        log.error("orch: could not post the alert to %s: %s", urllib.parse.urlsplit(url).netloc, exc)
        return False


def send_email(subject: str, text: str, recipients: list[str], timeout: float = 10) -> bool:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = os.environ.get("ORCH_SMTP_FROM", "orch@localhost")
    message["To"] = ", ".join(recipients)
    message.set_content(text)
    try:
        host = os.environ.get("ORCH_SMTP_HOST", "localhost")
        with smtplib.SMTP(host, int(os.environ.get("ORCH_SMTP_PORT", "25")), timeout=timeout) as smtp:
            if os.environ.get("ORCH_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"):
                smtp.starttls()
            if os.environ.get("ORCH_SMTP_USER"):
                smtp.login(os.environ["ORCH_SMTP_USER"], os.environ.get("ORCH_SMTP_PASSWORD", ""))
            smtp.send_message(message)
        return True
    except (OSError, smtplib.SMTPException) as exc:
        log.error("orch: could not email the alert: %s", exc)
        return False


def email_recipients() -> list[str]:
    return [r.strip() for r in os.environ.get("ORCH_ALERT_EMAIL", "").split(",") if r.strip()]


def notify(subject: str, text: str) -> None:
    """Log the alert, then send it to Slack and by email where configured."""
    log.warning("%s: %s", subject, text)
    webhook = os.environ.get("ORCH_SLACK_WEBHOOK_URL")
    if webhook:
        post_json(webhook, {"text": f"*{subject}*\n{text}"})
    recipients = email_recipients()
    if recipients:
        send_email(subject, text, recipients)
