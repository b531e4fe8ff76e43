"""Warehouse adapters: one interface, DuckDB (embedded default) and BigQuery.

The checks speak only to `Warehouse`; an adapter renders the sqlglot trees
for its dialect, binds the parameters its client's way, and turns every
failure (missing file, lock held, timeout, HTTP error) into a WarehouseError,
which the checks report as `error`, never as `pass`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from orch.monitor import queries
from orch.monitor.config import WarehouseSpec


class WarehouseError(Exception):
    """The warehouse could not answer: the check that asked is an `error`."""


class Warehouse:
    engine: str = ""
    dialect: str = ""

    def query(self, select: exp.Expression, params: Mapping[str, Any] | None = None) -> list[tuple]:
        """Rows of a query built in `orch.monitor.queries`, with its parameters bound."""
        return self.execute(select.sql(self.dialect), params or {})

    def execute(self, sql: str, params: Mapping[str, Any]) -> list[tuple]:
        raise NotImplementedError

    def first_row(self, sql: str) -> tuple | None:
        """The first row of a user's own SQL (a custom_sql check)."""
        rows = self.execute(sql, {})
        return rows[0] if rows else None

    def table_modified(self, table_id: str) -> dt.datetime | None:
        raise WarehouseError(f"the {self.engine} warehouse keeps no last-modified time of tables")

    def jobs_table(self) -> exp.Table:
        raise WarehouseError(f"the {self.engine} warehouse keeps no job history")

    def close(self) -> None:
        pass


class DuckDBWarehouse(Warehouse):
    """A DuckDB file, opened read-only so the monitor never blocks a writer for
    longer than one run, and never creates a file that is not there."""

    engine = "duckdb"
    dialect = "duckdb"

    def __init__(self, path: str, timeout_seconds: float):
        self.path = path
        self.timeout = timeout_seconds
        self._conn = None

    def _connection(self):
        if self._conn is None:
            import duckdb

            if not os.path.isfile(self.path):
                raise WarehouseError(f"DuckDB file {self.path} does not exist")
            try:
                self._conn = duckdb.connect(self.path, read_only=True)
            except duckdb.Error as exc:
                text = str(exc)
                if "lock" in text.lower():
                    raise WarehouseError(f"DuckDB file {self.path} is locked by another process: "
                                         f"{text.splitlines()[0]}") from None
                raise WarehouseError(f"cannot open DuckDB file {self.path}: {text.splitlines()[0]}") from None
        return self._conn

    def execute(self, sql: str, params: Mapping[str, Any]) -> list[tuple]:
        import duckdb

        conn = self._connection()
        timer = threading.Timer(self.timeout, conn.interrupt)
        timer.start()
        try:
            return conn.execute(sql, dict(params) if params else None).fetchall()
        except duckdb.InterruptException:
            raise WarehouseError(f"query timed out after {self.timeout:g}s") from None
        except duckdb.Error as exc:
            raise WarehouseError(str(exc).splitlines()[0]) from None
        finally:
            timer.cancel()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class BigQueryWarehouse(Warehouse):
    """google-cloud-bigquery's client: jobs.query, then getQueryResults while the
    query runs. `BIGQUERY_EMULATOR_HOST` (the client's own setting) points it at
    another endpoint, with anonymous credentials."""

    engine = "bigquery"
    dialect = "bigquery"

    def __init__(self, project: str | None, location: str | None, timeout_seconds: float, region: str = "us"):
        self.project = project
        self.location = location
        self.timeout = timeout_seconds
        self.region = region
        self._client = None
        self._down: str | None = None

    def _bigquery(self):
        try:
            from google.cloud import bigquery
        except ImportError:
            raise WarehouseError("the bigquery warehouse needs google-cloud-bigquery: "
                                 "pip install 'orch-compiler[bigquery]'") from None
        return bigquery

    def client(self):
        if self._client is None:
            bigquery = self._bigquery()
            credentials = None
            if os.environ.get("BIGQUERY_EMULATOR_HOST"):
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()
            try:
                self._client = bigquery.Client(project=self.project, location=self.location,
                                               credentials=credentials)
            except Exception as exc:  # google.auth raises several unrelated types here
                raise WarehouseError(f"cannot create the BigQuery client: {exc}") from None
        return self._client

    @staticmethod
    def _param(bigquery, name: str, value: Any):
        if isinstance(value, dt.datetime):
            kind = "TIMESTAMP"
        elif isinstance(value, dt.date):
            kind = "DATE"
        elif isinstance(value, bool):
            kind = "BOOL"
        elif isinstance(value, int):
            kind = "INT64"
        elif isinstance(value, float):
            kind = "FLOAT64"
        else:
            kind = "STRING"
        return bigquery.ScalarQueryParameter(name, kind, value)

    def _retry(self):
        from google.cloud.bigquery import retry as bq_retry

        # The client's defaults retry for up to 10 minutes; a monitor run has its own timeout.
        return (bq_retry.DEFAULT_RETRY.with_timeout(self.timeout),
                bq_retry.DEFAULT_JOB_RETRY.with_timeout(self.timeout))

    def _call(self, fn):
        """Run one client call; every way it can fail becomes a WarehouseError. Once
        BigQuery proved unreachable, later calls of the run fail at once."""
        from google.api_core import exceptions as gexc

        if self._down:
            raise WarehouseError(self._down)
        try:
            return fn()
        except gexc.GoogleAPICallError as exc:
            raise WarehouseError(f"BigQuery: {exc.code} {getattr(exc, 'message', exc)}") from None
        except Exception as exc:  # retry deadlines, requests' and google.auth's errors
            if isinstance(exc, (gexc.RetryError, TimeoutError, OSError)) or \
                    type(exc).__module__.split(".")[0] in ("requests", "urllib3", "google"):
                cause = getattr(exc, "cause", None) or exc
                self._down = f"BigQuery is unreachable or did not answer within {self.timeout:g}s: " \
                             f"{type(cause).__name__}: {cause}"
                raise WarehouseError(self._down) from None
            raise

    def execute(self, sql: str, params: Mapping[str, Any]) -> list[tuple]:
        bigquery = self._bigquery()
        config = bigquery.QueryJobConfig(
            query_parameters=[self._param(bigquery, k, v) for k, v in params.items()],
            job_timeout_ms=int(self.timeout * 1000),
        )
        retry, job_retry = self._retry()

        def run():
            rows = self.client().query_and_wait(sql, job_config=config, api_timeout=self.timeout,
                                                wait_timeout=self.timeout, retry=retry, job_retry=job_retry)
            return [tuple(row.values()) for row in rows]

        return self._call(run)

    def table_modified(self, table_id: str) -> dt.datetime | None:
        retry, _ = self._retry()
        return self._call(lambda: self.client().get_table(table_id, timeout=self.timeout, retry=retry).modified)

    def jobs_table(self) -> exp.Table:
        return queries.jobs_table(self.project or self.client().project, self.region)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def open_warehouse(spec: WarehouseSpec, region: str = "us") -> Warehouse:
    if spec.engine == "duckdb":
        return DuckDBWarehouse(spec.path or "", spec.timeout_seconds)
    return BigQueryWarehouse(spec.project, spec.location, spec.timeout_seconds, region)

