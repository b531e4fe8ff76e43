"""No credential, webhook URL or key lands in anything orch writes. Every secret
the compiled code and the monitors use is set to a marked value; then every
example is compiled to every target, drawn and explained, and the monitors run
with every report format and their alerts live (they must reach the local
servers, or the secrets were never in play). Every byte written is scanned."""

from __future__ import annotations

import duckdb

from tests.conftest import orch

SPECS = ("jaffle_overlay.orch", "marts.orch", "mixed.orch", "shop_metrics.orch")
TARGETS = [arg for t in ("airflow", "dagster", "health", "sla", "ir") for arg in ("-t", t)]


def _secret_env(tmp_path, url: str, smtp_port: int) -> dict[str, str]:
    credentials = tmp_path / "gcp-key.json"
    credentials.write_text('{"type": "service_account", "private_key": "GCPKEY-SECRET-d41d8"}')
    return {
        "ORCH_SLACK_WEBHOOK_URL": f"{url}/slack/T000/B000/SLACK-SECRET-5d1e",
        "ORCH_PAGERDUTY_ROUTING_KEY": "PAGERDUTY-SECRET-77aa",
        "ORCH_PAGERDUTY_URL": f"{url}/pagerduty/v2/enqueue",
        "ORCH_ALERT_EMAIL": "oncall@example.com",
        "ORCH_SMTP_HOST": "127.0.0.1",
        "ORCH_SMTP_PORT": str(smtp_port),
        "ORCH_SMTP_FROM": "orch@example.com",
        "ORCH_SMTP_USER": "smtp-user-SECRET-0f0f",
        "ORCH_SMTP_PASSWORD": "SMTP-SECRET-c0de",
        "ORCH_AIRFLOW_USERNAME": "airflow-user-SECRET-1a1a",
        "ORCH_AIRFLOW_PASSWORD": "AIRFLOW-SECRET-9b9b",
        "ORCH_AIRFLOW_TOKEN": "AIRFLOW-TOKEN-SECRET-3c3c",
        "AIRFLOW_CONN_WH": "postgresql://etl:CONN-SECRET-9a9a@db.internal:5432/wh",
        "DBT_ENV_SECRET_TOKEN": "DBT-SECRET-4242",
        "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
    }


def _marked(env: dict[str, str]) -> list[str]:
    found = [part for value in env.values() for part in value.replace("/", " ").replace(":", " ")
             .replace("@", " ").split() if "SECRET" in part]
    return [*found, "GCPKEY-SECRET-d41d8"]


def test_no_secret_in_any_output(specs, example_manifest, tmp_path, endpoints, smtp):
    url, received = endpoints
    port, _ = smtp
    env = _secret_env(tmp_path, url, port)
    secrets = _marked(env)
    assert len(secrets) == 10
    out = tmp_path / "out"
    printed: list[str] = []

    def run(*args, ok=(0,), cwd=None):
        result = orch(*args, env=env, cwd=cwd)
        assert result.returncode in ok, (args, result.stderr[-2000:])
        printed.extend((result.stdout, result.stderr))
        return result

    wh = tmp_path / "wh.duckdb"
    duckdb.connect(str(wh)).close()  # empty: every check errors, and errors alert
    run("compile", str(example_manifest), *TARGETS, "-o", str(out / "jaffle"), "-O", "conn_id=wh",
        "-O", f"duckdb_path={wh}", "-O", f"history_path={tmp_path / 'history.sqlite'}")
    for spec in SPECS:
        run("compile", str(specs / spec), *TARGETS, "-o", str(out / spec), "-O", "conn_id=wh",
            "-O", f"duckdb_path={wh}")
        run("graph", str(specs / spec), "--out", str(out / f"{spec}.html"))
        run("ir", str(specs / spec))
    run("explain", "fct_orders", str(specs / "marts.orch"))

    health = out / "jaffle" / "health" / "health-config.json"
    sla = out / "jaffle" / "sla" / "sla-config.json"
    run("health", "--config", str(health), "--output", str(tmp_path / "health.json"), ok=(1, 2))
    for fmt in ("markdown", "json", "junit", "html"):
        run("health", "--config", str(health), "--report", "--format", fmt, "--output",
            str(tmp_path / f"health-report.{fmt}"), ok=(0, 1, 2))
        run("sla", "--config", str(sla), "--report", "--format", fmt, "--output", str(tmp_path / f"sla.{fmt}"),
            ok=(0, 1, 2))
    run("health", "--config", str(health), "--cost-report", "--hours", "24", ok=(0, 1, 2))

    # The secrets were used: alerts went out through them.
    assert any("SLACK-SECRET-5d1e" in r["path"] for r in received)
    assert any(r["body"].get("routing_key") == "PAGERDUTY-SECRET-77aa" for r in received
               if r["path"].startswith("/pagerduty/"))
    # Generated code names where a secret comes from, never the secret.
    alerts_module = (out / "jaffle" / "airflow" / "orch_alerts.py").read_text(encoding="utf-8")
    assert "ORCH_SLACK_WEBHOOK_URL" in alerts_module

    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "gcp-key.json"]
    assert len(written) > 60
    blobs = [(str(p), p.read_bytes()) for p in written] + [("output", "".join(printed).encode())]
    leaks = [(where, secret) for where, blob in blobs for secret in secrets if secret.encode() in blob]
    assert leaks == []
