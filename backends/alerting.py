"""Alerting for the code orch generates: one module, written out as `orch_alerts.py`.

Generated folders must not depend on orch being installed, so the backends
copy this module (standard library only) next to what they generate, and the
support modules there import it. Settings come from the environment only, so
no webhook URL or address ever sits in a generated file:

  ORCH_SLACK_WEBHOOK_URL   Slack incoming webhook to post alerts to
  ORCH_ALERT_EMAIL         comma-separated recipients of alert emails
  ORCH_SMTP_HOST / ORCH_SMTP_PORT / ORCH_SMTP_FROM   the mail relay (default localhost:25)
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from email.message import EmailMessage

log = logging.getLogger("orch.alerts")


def notify(subject: str, text: str) -> None:
    """Log the alert, then send it to Slack and by email where configured."""
    log.warning("%s: %s", subject, text)
    webhook = os.environ.get("ORCH_SLACK_WEBHOOK_URL")
    if webhook:
        payload = json.dumps({"text": f"*{subject}*\n{text}"}).encode()
        request = urllib.request.Request(webhook, data=payload, headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except OSError as exc:
            log.error("orch: could not post the alert to Slack: %s", exc)
    recipients = [r.strip() for r in os.environ.get("ORCH_ALERT_EMAIL", "").split(",") if r.strip()]
    if recipients:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = os.environ.get("ORCH_SMTP_FROM", "orch@localhost")
        message["To"] = ", ".join(recipients)
        message.set_content(text)
        try:
            host = os.environ.get("ORCH_SMTP_HOST", "localhost")
            with smtplib.SMTP(host, int(os.environ.get("ORCH_SMTP_PORT", "25")), timeout=10) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("orch: could not email the alert: %s", exc)
