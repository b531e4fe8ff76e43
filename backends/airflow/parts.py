"""What every module of the Airflow backend shares: the names a DAG file can
import, literals that survive Airflow's Jinja, and the small pieces of its text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from orch.compiler.plugin import ir, unique

SUPPORT_MODULE = "orch_airflow_support"

#: Jinja templates for the partition a run rebuilds, by granularity.
PARTITION_VALUE_TEMPLATES = {
    "hour": "{{ logical_date.strftime('%Y-%m-%d %H:00:00') }}",
    "day": "{{ ds }}",
    "month": "{{ logical_date.strftime('%Y-%m-01') }}",
    "year": "{{ logical_date.strftime('%Y-01-01') }}",
}

#: BigQuery partition decorators (`table$20261128`) for the same partitions.
PARTITION_DECORATOR_TEMPLATES = {
    "hour": "{{ logical_date.strftime('%Y%m%d%H') }}",
    "day": "{{ ds_nodash }}",
    "month": "{{ logical_date.strftime('%Y%m') }}",
    "year": "{{ logical_date.strftime('%Y') }}",
}

OPTIONS = {
    "dbt_executable": "dbt",
    "dbt_command": "build",
    "dbt_invocation": "pipeline",
    "dbt_results_dir": "",
    "dbt_stale_seconds": "120",
    "start_date": "2025-01-01",
    "catchup": "false",
    "deadlines": "true",
    "max_active_runs": "1",
    "retries": "1",
    "critical_retries": "3",
    "retry_delay_minutes": "5",
    "sensor_timeout_seconds": "43200",
    "sensor_poke_seconds": "300",
    "conn_id": "",
    "gcp_conn_id": "google_cloud_default",
    "location": "US",
}

def task_ids(pipeline: ir.Pipeline, assets: Mapping[str, ir.Asset]) -> dict[str, str]:
    """Asset key -> task id: the asset's name made valid, unique in its DAG."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in sorted(pipeline.assets):
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", assets[key].name)[:200] or "task"
        out[key] = unique(base, used, str.lower)
    return out

def asset_uri(relation: ir.Relation) -> str:
    parts = [relation.database, relation.schema, relation.name]
    path = "/".join(quote(p, safe="") for p in parts if p)
    return f"{(relation.engine or 'warehouse').lower()}://{path}"

_JINJA_START = re.compile(r"\{[{%#]|\r")

def jinja_literal(text: str) -> str:
    """`text` as it must stand in a templated operator field (bash_command, cwd,
    sql, a BigQuery configuration) to render as itself.

    Airflow renders those fields with Jinja at run time, so a model named
    `{{ conn.warehouse.password }}` would otherwise put a secret on a command
    line. Each opening delimiter becomes an expression printing it, and so do
    carriage returns and a final newline (Jinja turns "\\r\\n" into "\\n" and
    drops one trailing newline).
    """
    out = _JINJA_START.sub(lambda m: "{{ '\\r' }}" if m.group(0) == "\r" else "{{ '" + m.group(0) + "' }}", text)
    return out[:-1] + "{{ '\\n' }}" if out.endswith("\n") else out

def _not_a_template_path(text: str, extensions: tuple[str, ...]) -> str:
    # Airflow reads a templated string ending in one of the operator's template
    # extensions as the path of a template file; a space keeps it a command.
    return f"{text} " if text.endswith(extensions) else text

_BASH_EXT = (".sh", ".bash")

_SQL_EXT = (".sql", ".json")

# Airflow refuses to import a DAG holding an Asset whose URI is longer.
_MAX_ASSET_URI = 1500

def outlet_uri(asset: ir.Asset) -> str | None:
    """The URI of the Airflow Asset a task updates, None when Airflow cannot hold one."""
    if asset.relation is None:
        return None
    uri = asset_uri(asset.relation)
    return uri if len(uri) <= _MAX_ASSET_URI else None

_SQL_OPERATORS = "airflow.providers.common.sql.operators.sql"

_BIGQUERY_OPERATORS = "airflow.providers.google.cloud.operators.bigquery"

#: Every name a DAG file can import, and its module (None: `import name`). A task
#: variable never takes one of them, whether the file imports it or not.
_IMPORTABLE: dict[str, str | None] = {
    "os": None,
    "pendulum": None,
    "datetime": "datetime",
    "timedelta": "datetime",
    "DAG": "airflow.sdk",
    "Asset": "airflow.sdk",
    "DeadlineAlert": "airflow.sdk",
    "DeadlineReference": "airflow.sdk",
    "SyncCallback": "airflow.sdk",
    "BashOperator": "airflow.providers.standard.operators.bash",
    "EmptyOperator": "airflow.providers.standard.operators.empty",
    "ExternalTaskSensor": "airflow.providers.standard.sensors.external_task",
    "SQLExecuteQueryOperator": _SQL_OPERATORS,
    "SQLCheckOperator": _SQL_OPERATORS,
    "BigQueryInsertJobOperator": _BIGQUERY_OPERATORS,
    "BigQueryCheckOperator": _BIGQUERY_OPERATORS,
    "DbtNodeSensor": SUPPORT_MODULE,
    "DbtBuildOperator": SUPPORT_MODULE,
    "DbtTestsOperator": SUPPORT_MODULE,
}

#: What a DAG file defines at module level under fixed names.
_DEFINED = ("dag", "on_critical_failure", "ORCH_LINEAGE")

def _duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("hours", 3600), ("minutes", 60)):
        if seconds and seconds % size == 0:
            return f"timedelta({unit}={seconds // size})"
    return f"timedelta(seconds={seconds})"

def freshness_check_id(key: str) -> str:
    """The id of the check an asset's own freshness target becomes (it has no IR check)."""
    return f"{key}#freshness"

def _import_block(imports: set[str]) -> list[str]:
    """Standard library, then third party, in the order isort and ruff expect."""
    stdlib = [i for i in imports if i.startswith(("from datetime", "import datetime", "import os"))]
    third = [i for i in imports if i not in stdlib]
    out = _sorted_imports(stdlib)
    if out:
        out.append("")
    return out + _sorted_imports(third)

def _sorted_imports(lines) -> list[str]:
    plain = sorted(line for line in lines if line.startswith("import "))
    merged: dict[str, set[str]] = {}
    for line in lines:
        if line.startswith("from "):
            module, names = line[len("from "):].split(" import ")
            merged.setdefault(module, set()).update(n.strip() for n in names.split(","))

    def by_type(name: str) -> tuple[int, str]:
        # isort's order-by-type: CONSTANTS, then Classes, then functions.
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    return plain + [
        f"from {m} import {', '.join(sorted(names, key=by_type))}" for m, names in sorted(merged.items())
    ]

def _edge(upstream: Sequence[str], task: str) -> str:
    return f"[{', '.join(upstream)}] >> {task}" if len(upstream) > 1 else f"{upstream[0]} >> {task}"

_FAILURE_CALLBACK = f'''def on_critical_failure(context):
    """Alert on a critical task's failure (see {SUPPORT_MODULE}.py beside this file).

    Imported when called, so parsing this DAG never depends on the support module.
    """
    from {SUPPORT_MODULE} import task_failed

    task_failed(context)'''

_LATEST_RUN_FN = '''def {fn}(logical_date, **_):
    """The latest {dag} run ({cron}, {tz}) at or before this run's logical date."""
    from croniter import croniter

    local = logical_date.in_timezone({tz!r})
    if croniter.match({cron!r}, local):
        return logical_date
    return pendulum.instance(croniter({cron!r}, local).get_prev(datetime))'''
