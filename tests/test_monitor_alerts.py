"""Alerts reach real servers: Slack (Block Kit) and PagerDuty (Events API v2)
over HTTP on 127.0.0.1, email over SMTP (aiosmtpd). One alert per violation
until it recovers; critical checks page, the rest go to Slack and email."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from orch.monitor import cli as monitor_cli
from orch.monitor.config import HEALTH, load
from orch.monitor.history import History
from tests.conftest import orch
from tests.monitor_support import AS_OF, NOW, naive, seed_warehouse, write_config

T = "wh.main."


@pytest.fixture
def alert_env(endpoints, smtp):
    url, _ = endpoints
    port, _ = smtp
    return {
        "ORCH_SLACK_WEBHOOK_URL": f"{url}/slack/T000/B000/hooksecret9f3",
        "ORCH_PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY",
        "ORCH_PAGERDUTY_URL": f"{url}/pagerduty/v2/enqueue",
        "ORCH_ALERT_EMAIL": "oncall@example.com, data@example.com",
        "ORCH_SMTP_HOST": "127.0.0.1",
        "ORCH_SMTP_PORT": str(port),
        "ORCH_SMTP_FROM": "orch@example.com",
    }


def config_doc() -> dict:
    return {"warehouse": {"engine": "duckdb", "path": "wh.duckdb"},
            "tables": [
                {"table_id": f"{T}stale_events", "critical": True, "owner": "platform",
                 "freshness": {"timestamp_column": "ts", "max_age_hours": 24}},
                {"table_id": f"{T}few_rows", "owner": "analytics", "row_count": {"min_rows": 10}},
                {"table_id": f"{T}fresh_events", "freshness": {"timestamp_column": "ts", "max_age_hours": 24}},
            ]}


def split(received):
    slack = [r["body"] for r in received if r["path"].startswith("/slack/")]
    pagerduty = [r["body"] for r in received if r["path"].startswith("/pagerduty/")]
    return slack, pagerduty


def test_alert_once_per_violation_then_resolve(tmp_path, endpoints, smtp, alert_env):
    seed_warehouse(tmp_path / "wh.duckdb")
    config = write_config(tmp_path, config_doc())
    _, received = endpoints
    _, mails = smtp

    def run():
        return orch("health", *AS_OF, "--config", str(config), cwd=tmp_path, env=alert_env)

    first = run()
    assert first.returncode == 1, first.stderr
    slack, pagerduty = split(received)
    # Critical -> PagerDuty only; the rest -> Slack and email.
    assert len(pagerduty) == 1 and len(slack) == 1 and len(mails) == 1
    trigger = pagerduty[0]
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "R0UT1NGKEY"
    assert trigger["dedup_key"] == f"orch/{T}stale_events/freshness"
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == f"{T}stale_events"
    assert "stale" in trigger["payload"]["summary"] and trigger["payload"]["custom_details"]["owner"] == "platform"
    message = slack[0]
    assert "few_rows" in message["text"]
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    assert message["blocks"][0]["text"] == {"type": "plain_text", "text": f"FAILED {T}few_rows row_count"}
    assert any("analytics" in f["text"] for f in message["blocks"][2]["fields"])
    mail = mails[0]
    assert mail["Subject"] == f"[orch] FAILED {T}few_rows row_count"
    assert mail["To"] == "oncall@example.com, data@example.com"
    assert "3 rows (min 10)" in mail.get_content()
    assert "alert  trigger" in first.stdout

    # Still failing: nothing more is sent.
    assert run().returncode == 1
    assert len(received) == 2 and len(mails) == 1

    # Recovery: PagerDuty resolves the same dedup_key; Slack and email say so.
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("INSERT INTO stale_events VALUES (3, ?)", [naive(dt.timedelta(minutes=5))])
    con.execute("INSERT INTO few_rows SELECT range FROM range(10, 20)")
    con.close()
    third = run()
    assert third.returncode == 0, third.stdout
    slack, pagerduty = split(received)
    assert pagerduty[1] == {"routing_key": "R0UT1NGKEY", "event_action": "resolve",
                            "dedup_key": f"orch/{T}stale_events/freshness"}
    assert slack[1]["blocks"][0]["text"]["text"] == f"RECOVERED {T}few_rows row_count"
    assert len(mails) == 2 and mails[1]["Subject"].startswith("[orch] RECOVERED")
    assert run().returncode == 0 and len(received) == 4 and len(mails) == 2


def test_routing_is_configurable(tmp_path, endpoints, alert_env):
    seed_warehouse(tmp_path / "wh.duckdb")
    doc = config_doc()
    doc["alerts"] = {"critical": ["slack", "pagerduty"], "default": []}
    config = write_config(tmp_path, doc)
    env = {k: v for k, v in alert_env.items() if not k.startswith("ORCH_ALERT_EMAIL")}
    assert orch("health", *AS_OF, "--config", str(config), cwd=tmp_path, env=env).returncode == 1
    slack, pagerduty = split(endpoints[1])
    assert len(slack) == len(pagerduty) == 1 and "stale_events" in slack[0]["text"]


def test_secrets_stay_out_of_reports_and_history(tmp_path, alert_env):
    seed_warehouse(tmp_path / "wh.duckdb")
    config = write_config(tmp_path, config_doc())
    orch("health", *AS_OF, "--config", str(config), "--report", "--format", "html", "--output", "r.html",
         cwd=tmp_path, env=alert_env)
    blobs = b"".join(p.read_bytes() for p in [tmp_path / "r.html", *tmp_path.glob("orch-history.sqlite*")])
    for secret in ("hooksecret9f3", "R0UT1NGKEY", "oncall@example.com"):
        assert secret.encode() not in blobs


def test_monitor_loop_alerts_once_when_a_table_goes_stale(tmp_path, monkeypatch, endpoints, time_machine):
    url, received = endpoints
    # The loop runs on the clock: it starts at the seeded data's reference time and ticks on.
    time_machine.move_to(NOW, tick=True)
    monkeypatch.setenv("ORCH_SLACK_WEBHOOK_URL", f"{url}/slack/T000/B000/hooksecret9f3")
    seed_warehouse(tmp_path / "wh.duckdb")
    doc = {"warehouse": {"engine": "duckdb", "path": "wh.duckdb"},
           "tables": [{"table_id": f"{T}fresh_events", "freshness": {"timestamp_column": "ts", "max_age_hours": 24}}]}
    path = write_config(tmp_path, doc)
    args = monitor_cli.build_parser(HEALTH).parse_args(
        ["--config", str(path), "--monitor", "--interval", "0.2", "--iterations", "3", "--quiet"])
    config = load(str(path), HEALTH)
    history = History(config.history_path)
    codes = []

    def between(done: int, code: int) -> None:
        codes.append((code, len(received)))
        if done == 1:  # the loader stops: only old rows are left
            con = duckdb.connect(str(tmp_path / "wh.duckdb"))
            con.execute("DELETE FROM fresh_events WHERE ts > ?", [naive(dt.timedelta(hours=30))])
            con.execute("INSERT INTO fresh_events VALUES (9, ?)", [naive(dt.timedelta(hours=40))])
            con.close()

    try:
        assert monitor_cli.monitor_loop(config, args, history, after_each=between) == 1
    finally:
        history.close()
    assert codes == [(0, 0), (1, 1), (1, 1)]
    assert "stale" in received[0]["body"]["text"]
    reopened = History(config.history_path)
    try:
        assert reopened.run_count() == 3 and list(reopened.open_alerts()) == [f"orch/{T}fresh_events/freshness"]
    finally:
        reopened.close()
