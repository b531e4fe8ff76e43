"""SQLMesh frontend: lowers a SQLMesh project into IR through sqlmesh's own `Context`.

Loading through SQLMesh (rather than reading its files ourselves) means every
macro, model default, Python model and audit means exactly what it means to
`sqlmesh plan`. Loading does not touch the warehouse or the state database.

Each model becomes an asset run by `sqlmesh run --select-model` in the
project; tables the models read that no model builds become runner-less
external assets, which the spec frontend can match to dbt's tables by name.
Audits become checks: SQLMesh runs them itself after each model, so every
backend leaves them to the runner.

SQLMesh is loaded in a child process: importing it extends sqlglot's parsers
process-wide (its `@macro` syntax), which would change how the rest of the
compile parses and writes SQL.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import date, datetime

import attrs

from orch.compiler import ir
from orch.compiler.diagnostics import Code, CompileError, error
from orch.compiler.frontends.dbt import Lowered
from orch.compiler.grouping import infer_layer

# SQLMesh interval units -> the IR's partition granularities (Dagster and BigQuery names).
_GRANULARITY = {
    "year": "year",
    "month": "month",
    "day": "day",
    "hour": "hour",
    "half_hour": "hour",
    "quarter_hour": "hour",
    "five_minute": "hour",
}


@attrs.frozen(kw_only=True)
class SqlmeshOptions:
    gateway: str | None = None
    #: As the generated tasks will see the project folder (default: the path given).
    project_dir: str | None = None


def _fail(message: str, path: str) -> CompileError:
    return CompileError(error(Code.SQLMESH_LOAD, message, ir.Location(path=path)))


def _check_project(path: str) -> None:
    if not os.path.isdir(path):
        raise _fail("not a folder: a SQLMesh project is the folder holding its config.yaml or config.py", path)
    if not any(os.path.exists(os.path.join(path, f"config.{ext}")) for ext in ("yaml", "yml", "py")):
        raise _fail("not a SQLMesh project: the folder has no config.yaml or config.py", path)


def load_context(path: str, gateway: str | None = None):
    """A loaded `sqlmesh.Context` for the project at `path`."""
    _check_project(path)
    try:
        from sqlmesh import Context
    except ImportError:
        raise _fail("SQLMesh is not installed: pip install 'orch-compiler[sqlmesh]'", path) from None
    # SQLMesh logs its loading at INFO on the root logger; a compile should be quiet.
    logging.getLogger("sqlmesh").setLevel(logging.WARNING)
    try:
        return Context(paths=path, gateway=gateway, load=True)
    except Exception as exc:  # SQLMesh raises its own ConfigError, ParsetimeError, ... and plain ones
        first = str(exc).strip().splitlines()
        raise _fail(f"SQLMesh could not load the project: {type(exc).__name__}: "
                    f"{first[0] if first else 'no message'}", path) from None


def _parts(fqn: str) -> tuple[str | None, str | None, str]:
    from sqlglot import exp

    table = exp.to_table(fqn)
    return table.catalog or None, table.db or None, table.name


def _short(fqn: str, default_catalog: str | None) -> str:
    """schema.table, with the catalog only when it is not the project's default:
    keys must not change when the warehouse file moves."""
    catalog, schema, name = _parts(fqn)
    if catalog and catalog == default_catalog:
        catalog = None
    return ".".join(p for p in (catalog, schema, name) if p)


def asset_key(fqn: str, default_catalog: str | None = None) -> str:
    return "sqlmesh." + _short(fqn, default_catalog)


#: Keys of tables the models read that no model builds.
EXTERNAL_PREFIX = "sqlmesh.external."


def external_key(fqn: str, default_catalog: str | None = None) -> str:
    return EXTERNAL_PREFIX + _short(fqn, default_catalog)


def _column(expression, dialect: str) -> str:
    return expression.name if getattr(expression, "name", "") else expression.sql(dialect=dialect)


def _day(value) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        from sqlmesh.utils.date import to_datetime

        return to_datetime(value).date()
    except Exception:  # a relative start such as "1 year ago" that cannot be pinned: leave it out
        return None


def lower(path: str, options: SqlmeshOptions = SqlmeshOptions()) -> Lowered:
    """Load the project in a child process and read back its IR."""
    from orch.compiler import serde
    from orch.compiler.diagnostics import Diagnostic, Level

    _check_project(path)  # before paying for a child process that would say the same
    request = json.dumps({"path": path, "gateway": options.gateway, "project_dir": options.project_dir})
    child = subprocess.run([sys.executable, "-m", "orch.compiler.frontends.sqlmesh"], input=request,
                           capture_output=True, text=True, check=False)
    try:
        answer = json.loads(child.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (child.stderr or child.stdout).strip().splitlines()[-1:] or ["no output"]
        raise _fail(f"loading the SQLMesh project failed: {tail[0]}", path) from None
    if "errors" in answer:
        raise CompileError([
            Diagnostic(code=Code(d["code"]), level=Level.ERROR, message=d["message"],
                       span=ir.Location(**d["location"])) for d in answer["errors"]
        ])
    project = serde.from_dict(answer["ir"])
    return Lowered(name=answer["name"], assets=project.assets, checks=project.checks, diagnostics=())


def _lower_here(path: str, options: SqlmeshOptions) -> Lowered:
    context = load_context(path, options.gateway)
    root = os.path.abspath(path)
    project_dir = options.project_dir or path
    engine = _engine(context)
    models = dict(context.models)
    default_catalog = context.default_catalog
    assets: list[ir.Asset] = []
    checks: list[ir.Check] = []
    check_keys: set[str] = set()
    externals: dict[str, ir.Asset] = {}
    for fqn in sorted(models):
        model = models[fqn]
        key = asset_key(fqn, default_catalog)
        file = os.path.relpath(str(model._path), root) if getattr(model, "_path", None) else None
        origin = ir.Location(path=os.path.join(path, file) if file else path, unique_id=model.name)
        catalog, schema, name = _parts(fqn)
        upstream = []
        for dep in sorted(model.depends_on):
            if dep in models:
                upstream.append(asset_key(dep, default_catalog))
            else:
                ext = external_key(dep, default_catalog)
                upstream.append(ext)
                if ext not in externals:
                    d_catalog, d_schema, d_name = _parts(dep)
                    externals[ext] = ir.Asset(
                        key=ext, name=".".join(p for p in (d_schema, d_name) if p), kind=ir.AssetKind.SOURCE,
                        origin=origin, layer="sources",
                        relation=ir.Relation(database=d_catalog, schema=d_schema, name=d_name,
                                             engine=engine or model.dialect or None),
                    )
        kind = model.kind
        assets.append(ir.Asset(
            key=key,
            name=model.name,
            kind=ir.AssetKind.SQLMESH_MODEL,
            origin=origin,
            relation=ir.Relation(database=catalog, schema=schema, name=name, engine=engine or model.dialect or None),
            upstream=tuple(upstream),
            runner=ir.SqlmeshRun(model=model.name, project_dir=project_dir),
            materialization=kind.name.value.lower() if hasattr(kind.name, "value") else str(kind.name).lower(),
            unique_key=_unique_key(model),
            partitioning=_partitioning(model),
            schedule=ir.Schedule(cron=model.cron, timezone=str(model.cron_tz) if model.cron_tz else "UTC"),
            owner=model.owner or None,
            tags=tuple(sorted(model.tags)),
            description=model.description or None,
            layer=infer_layer(name, file, ir.AssetKind.SQLMESH_MODEL),
            path=file,
            columns=tuple(model.columns_to_types or ()) if model.columns_to_types else (),
        ))
        _add_audits(model, key, origin, checks, check_keys)
    project_name = os.path.basename(root) or "sqlmesh"
    return Lowered(
        name=project_name,
        assets=tuple(assets) + tuple(externals[k] for k in sorted(externals)),
        checks=tuple(checks),
        diagnostics=(),
    )


def _engine(context) -> str | None:
    """The gateway's warehouse type; None when the config names no connection."""
    try:
        gateway = context.config.get_gateway(context.selected_gateway)
        return gateway.connection.type_ if gateway.connection is not None else None
    except Exception:  # a config without a connection still loads; the model dialect stands in
        return None


def _unique_key(model) -> tuple[str, ...]:
    if getattr(model.kind, "unique_key", None):
        return tuple(_column(e, model.dialect) for e in model.kind.unique_key)
    if model.grains:
        return tuple(
            _column(c, model.dialect) for g in model.grains for c in (g.expressions if g.expressions else [g])
        )
    return ()


def _partitioning(model) -> ir.Partitioning | None:
    """The model's time column (incremental by time) or first partition column, at its interval."""
    time_column = getattr(model.kind, "time_column", None)
    unit = model.interval_unit.value if model.interval_unit else "day"
    field = None
    if time_column is not None:
        field = time_column.column.name
    elif model.partitioned_by:
        field = model.partitioned_by[0].sql(dialect=model.dialect).strip('"')
    if not field:
        return None
    granularity = _GRANULARITY.get(unit, "day")
    return ir.Partitioning(field=field, data_type="date" if granularity != "hour" else "timestamp",
                           granularity=granularity, start=_day(model.start))


def _add_audits(model, key: str, origin: ir.Location, checks: list[ir.Check], check_keys: set[str]) -> None:
    """A check per audit of the model, with its arguments as SQLMesh writes them."""
    for audit, args in model.audits_with_args:
        params = ir.SqlmeshAuditParams(args=tuple(
            ir.Param(name=arg, value=value.sql(dialect=model.dialect) if hasattr(value, "sql") else str(value))
            for arg, value in sorted(args.items())))
        check_key = f"{key}.audit.{audit.name}"
        if check_key in check_keys:  # one audit applied twice, with other arguments
            check_key += f".{len(checks)}"
        check_keys.add(check_key)
        checks.append(ir.Check(
            key=check_key,
            name=audit.name,
            asset=key,
            origin=origin,
            params=params,
            severity=ir.Severity.ERROR if audit.blocking else ir.Severity.WARN,
            blocking=bool(audit.blocking),
        ))


def dag(path: str, gateway: str | None = None) -> dict:
    """SQLMesh's own view of the project, for comparison in tests: its DAG (fqn ->
    the fqns it reads), its models' fqns and its default catalog. Run in a child
    process for the reason given at the top."""
    code = ("import json, sys; from orch.compiler.frontends.sqlmesh import load_context; "
            "c = load_context(sys.argv[1], sys.argv[2] or None); "
            "print(json.dumps({'graph': {k: sorted(v) for k, v in c.dag.graph.items()}, "
            "'models': sorted(c.models), 'catalog': c.default_catalog}))")
    child = subprocess.run([sys.executable, "-c", code, path, gateway or ""], capture_output=True, text=True,
                           check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def _child() -> int:
    from orch.compiler import serde

    request = json.load(sys.stdin)
    try:
        lowered = _lower_here(request["path"], SqlmeshOptions(gateway=request["gateway"],
                                                              project_dir=request["project_dir"]))
    except CompileError as exc:
        print(json.dumps({"errors": [d.to_json() for d in exc.diagnostics]}))
        return 0
    project = ir.Project(name=lowered.name, assets=lowered.assets, checks=lowered.checks)
    print(json.dumps({"name": lowered.name, "ir": serde.to_dict(project)}))
    return 0


if __name__ == "__main__":
    sys.exit(_child())
