"""The SQL tasks of a DAG file: models the SQL runner writes (on a generic
connection, or BigQuery jobs), and the health checks that follow an asset."""

from __future__ import annotations

import re

import attrs

from orch.backends.airflow.parts import (
    _SQL_EXT,
    PARTITION_DECORATOR_TEMPLATES,
    PARTITION_VALUE_TEMPLATES,
    _not_a_template_path,
    freshness_check_id,
    jinja_literal,
)
from orch.compiler.plugin import Code, CompileError, error, ir, pyfmt, sqlgen


class SqlTasks:
    """The SQL part of `DagFile` (dagfile.py), which holds the state these methods share."""

    def sql_task(self, var: str, task_id: str, runner: ir.SqlQuery, asset: ir.Asset,
                 outlets: dict[str, object]) -> str:
        def unavailable(why: str) -> CompileError:
            return CompileError(error(Code.RUNNER_UNAVAILABLE, f"{asset.name}: {why}", asset.origin))

        part = asset.partitioning
        if part is not None and part.granularity not in PARTITION_VALUE_TEMPLATES:
            part = None
        if runner.write_mode == "merge" and runner.dialect == "bigquery" and not asset.columns:
            raise unavailable("a MERGE on BigQuery updates named columns; document the model's columns, "
                              "or use the dbt runner for it")
        if runner.dialect != "bigquery":
            conn_id = runner.connection or self.b.option("conn_id")
            if not conn_id:
                raise unavailable("the SQL runner needs a connection: pass --option conn_id=NAME, "
                                  "or set meta.conn_id on the model")
            self.need("SQLExecuteQueryOperator")
            statements = [_not_a_template_path(jinja_literal(q), _SQL_EXT)
                          for q in sqlgen.write_statements(runner, asset.columns)]
            node = pyfmt.call("SQLExecuteQueryOperator", task_id=pyfmt.lit(task_id), conn_id=pyfmt.lit(conn_id),
                              sql=pyfmt.lit(statements), **outlets, **self.common_task_kwargs(asset))
            return f"{var} = {self.prebuilt.name(node)}"

        self.need("BigQueryInsertJobOperator")
        query = self.bigquery_query(runner, asset, part)
        gcp_conn_id = runner.connection or self.b.option("gcp_conn_id")
        node = pyfmt.call("BigQueryInsertJobOperator", task_id=pyfmt.lit(task_id),
                          configuration=pyfmt.lit({"query": query}), location=pyfmt.lit(self.b.option("location")),
                          gcp_conn_id=pyfmt.lit(gcp_conn_id), **outlets, **self.common_task_kwargs(asset))
        return f"{var} = {self.prebuilt.name(node)}"

    @staticmethod
    def bigquery_query(runner: ir.SqlQuery, asset: ir.Asset, part: ir.Partitioning | None) -> dict:
        """The `query` configuration of the BigQuery job that writes `asset`."""
        query: dict = {"useLegacySql": False}
        if runner.destination is None:
            query["query"] = runner.sql
        elif runner.write_mode == "view":
            query["query"] = sqlgen.create_view(runner)
        elif runner.write_mode == "merge":
            source = attrs.evolve(runner, sql=sqlgen.only_partition(runner.sql, part)) if part else runner
            query["query"] = ";\n".join(sqlgen.merge(source, asset.columns, part))
        else:
            dest = runner.destination
            table_id = jinja_literal(dest.name)
            query["query"] = runner.sql
            query["writeDisposition"] = "WRITE_APPEND" if runner.write_mode == "append" else "WRITE_TRUNCATE"
            if part is not None:
                query["timePartitioning"] = {"type": part.granularity.upper(), "field": part.field}
                if runner.write_mode == "append":
                    # An incremental run replaces exactly its own partition, so a
                    # backfill of any logical date rebuilds the right one.
                    query["query"] = sqlgen.only_partition(runner.sql, part)
                    table_id = f"{table_id}${PARTITION_DECORATOR_TEMPLATES[part.granularity]}"
                    query["writeDisposition"] = "WRITE_TRUNCATE"
            query["destinationTable"] = {"projectId": dest.database and jinja_literal(dest.database),
                                         "datasetId": dest.schema and jinja_literal(dest.schema), "tableId": table_id}
            query["createDisposition"] = "CREATE_IF_NEEDED"
        query["query"] = jinja_literal(query["query"])
        if part is not None and runner.write_mode in ("append", "merge"):
            query["queryParameters"] = [{
                "name": sqlgen.PARTITION_PARAMETER,
                "parameterType": {"type": "STRING"},
                "parameterValue": {"value": PARTITION_VALUE_TEMPLATES[part.granularity]},
            }]
        return query

    def health_checks(self, key: str) -> list[tuple[str, str, bool, str]]:
        """(task id suffix, SQL, blocking, check id) of each SQL health check that follows the asset."""
        asset = self.assets[key]
        connection = self.b.check_connection(asset)
        if connection is None or asset.relation is None:
            return []
        dialect = "bigquery" if connection[0] == "bigquery" else (asset.relation.engine or "ansi")
        return [
            ("freshness" if check is None else re.sub(r"[^A-Za-z0-9_.-]", "_", check.name), sql, blocking,
             freshness_check_id(key) if check is None else check.key)
            for check, sql, blocking in sqlgen.health_queries(asset, self.checks_of.get(key, ()), dialect)
        ]

    def health_task(self, task_id: str, sql: str, asset: ir.Asset, check: str) -> tuple[str, str]:
        sql = _not_a_template_path(jinja_literal(sql), _SQL_EXT)
        check_id = self.unique_task_id(f"check_{task_id}")
        self.check_tasks[check] = check_id
        var = self.names(check_id)
        kind, conn = self.b.check_connection(asset)
        lit = pyfmt.lit
        if kind == "bigquery":
            self.need("BigQueryCheckOperator")
            node = pyfmt.call("BigQueryCheckOperator", task_id=lit(check_id), sql=lit(sql), use_legacy_sql=lit(False),
                              gcp_conn_id=lit(conn), location=lit(self.b.option("location")))
        else:
            self.need("SQLCheckOperator")
            node = pyfmt.call("SQLCheckOperator", task_id=lit(check_id), conn_id=lit(conn), sql=lit(sql))
        return var, f"{var} = {self.prebuilt.name(node)}"
