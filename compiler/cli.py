"""The `orch` command, and the seed-named wrappers `airflow-dag-gen` / `dagster-asset-gen`.

Exit codes (docs/cli.md):
  0  success; warnings allowed
  1  the input is well-formed but has errors (a cycle, an infeasible SLA, ...),
     or `--check` found files that would change
  2  the input is unusable (not JSON, not a manifest, unsupported schema) or
     the command line is wrong
  3  an internal error: a bug in orch
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from orch.compiler import __version__, backend, codegen, config, ir, serde, stamp
from orch.compiler.cadence import cron_problem
from orch.compiler.diagnostics import (
    CompileError,
    Diagnostic,
    Settings,
    UnusableCode,
    did_you_mean,
    render_all,
)
from orch.compiler.driver import BuildOptions, build
from orch.compiler.grouping import GROUP_BY_CHOICES, validate_group_by

EXIT_OK, EXIT_ERRORS, EXIT_UNUSABLE, EXIT_INTERNAL = 0, 1, 2, 3
#: Text output shows this many diagnostics of one code before it only counts them.
PER_CODE = 3


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 on usage errors, as we document
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNUSABLE, f"{self.prog}: error: {message}\n")


def _add_build_options(parser: argparse.ArgumentParser, diagnostics_format: bool = True) -> None:
    group = parser.add_argument_group("input")
    group.add_argument("--select", "-s", action="append", metavar="SELECTOR",
                       help="dbt node selection (dbt's syntax); repeat or separate with spaces")
    group.add_argument("--exclude", action="append", metavar="SELECTOR", help="dbt nodes to leave out")
    group.add_argument("--group-by", metavar="HOW",
                       help=f"how assets outside a spec's pipelines become pipelines: {' | '.join(GROUP_BY_CHOICES)} "
                            "(default: the spec's defaults, else layer)")
    group.add_argument("--schedule",
                       help="schedule of assets that set none (cron or alias; default: the spec's defaults, "
                            "else @daily)")
    group.add_argument("--timezone", default="UTC", help="timezone of --schedule (default: UTC)")
    group.add_argument("--dbt-project-dir", help="dbt project the tasks run in (default: the manifest's target/..)")
    group.add_argument("--profiles-dir", help="dbt profiles directory the tasks use")
    group.add_argument("--dbt-target", help="dbt target the tasks use")
    group.add_argument("--runner", choices=("dbt", "bigquery", "sql"), default="dbt",
                       help="run dbt models through dbt (default) or as their compiled SQL on BigQuery or "
                            "another warehouse; meta.runner overrides it per model")
    group.add_argument("--run-results", metavar="PATH",
                       help="dbt run_results.json: check completion SLAs against recorded durations")
    group.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                       help="a backend option (see docs/backends.md); repeatable")
    out = parser.add_argument_group("diagnostics")
    if diagnostics_format:
        out.add_argument("--format", choices=("text", "json"), default="text", help="diagnostics format")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    out.add_argument("--warn", action="append", default=[], metavar="CODE",
                     help="report a policy check (E041, E042, E051) as a warning; repeatable")
    out.add_argument("--ignore", action="append", default=[], metavar="CODE",
                     help="do not report a warning or policy check; repeatable")
    out.add_argument("--warn-error", action="store_true", help="treat warnings as errors")
    out.add_argument("--verbose", "-v", action="store_true",
                     help=f"print every diagnostic (default: at most {PER_CODE} of each code, then a count)")


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return Settings.named(args.warn, args.ignore, args.warn_error)
    except UnusableCode as exc:
        raise UsageError(f"--{exc.option} {exc.value}: {exc.problem}") from None


def _build_options(args: argparse.Namespace) -> BuildOptions:
    if args.group_by is not None and not validate_group_by(args.group_by):
        raise UsageError(f"--group-by {args.group_by!r}: expected one of {', '.join(GROUP_BY_CHOICES)}")
    problem = cron_problem(args.schedule, args.timezone) if args.schedule is not None else None
    if problem:
        raise UsageError(f"--schedule: {problem}")
    return BuildOptions(
        select=" ".join(args.select) if args.select else None,
        exclude=" ".join(args.exclude) if args.exclude else None,
        group_by=args.group_by,
        dbt_project_dir=args.dbt_project_dir,
        profiles_dir=args.profiles_dir,
        dbt_target=args.dbt_target,
        default_schedule=ir.Schedule(cron=args.schedule, timezone=args.timezone) if args.schedule else None,
        run_results=args.run_results,
        runner=args.runner,
        diagnostics=_settings(args),
    )


def _color(args: argparse.Namespace) -> bool:
    if args.color != "auto":
        return args.color == "always"
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _rendered(diagnostics: Sequence[Diagnostic], args: argparse.Namespace) -> str:
    if args.format == "json":
        return render_all(diagnostics, "json", False)
    per_code = None if getattr(args, "verbose", True) else PER_CODE
    return render_all(diagnostics, "text", _color(args), per_code) if diagnostics else ""


def _report(diagnostics: Sequence[Diagnostic], args: argparse.Namespace) -> None:
    text = _rendered(diagnostics, args)
    if text:
        print(text, file=sys.stderr)


def describe_inputs(inputs: Sequence[str]) -> str:
    """Inputs as header text: relative to the working directory when inside it."""
    cwd = os.getcwd()
    shown = []
    for path in inputs:
        full = os.path.abspath(path)
        rel = os.path.relpath(full, cwd)
        shown.append(rel if not rel.startswith(os.pardir) else os.path.basename(full))
    return ", ".join(p.replace(os.sep, "/") for p in shown)


def _backend_options(pairs: Sequence[str], classes: Sequence[type[backend.Backend]]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--option {pair!r}: expected KEY=VALUE")
        if not any(key in cls.OPTIONS for cls in classes):
            known = sorted({k for cls in classes for k in cls.OPTIONS})
            raise UsageError(
                f"--option {key!r} is not an option of {', '.join(c.name for c in classes)}; "
                f"known: {', '.join(known) or 'none'}"
            )
        options[key] = value
    return options


def run_compile(
    inputs: Sequence[str],
    targets: Sequence[tuple[str, str]],
    options: BuildOptions,
    args: argparse.Namespace,
    check: bool,
    root: str,
) -> int:
    """Build once, emit every (backend, folder) target, then write them all as one
    transaction under `root`."""
    out_dirs = [out_dir for _, out_dir in targets]
    settings = {"targets": list(targets), "options": repr(options), "backend_options": list(args.option),
                "format": args.format, "color": _color(args), "verbose": args.verbose}
    compile_key = stamp.key(inputs, [options.run_results, *config.find(inputs)], settings)
    previous = stamp.load(compile_key, out_dirs, root)
    if previous is not None:
        return _as_last_time(previous, check)
    try:
        classes = [backend.load(name) for name in dict.fromkeys(name for name, _ in targets)]
        backend_options = _backend_options(args.option, classes)
        backends = [cls(backend_options) for cls in classes]
        project, diagnostics = build(inputs, options, backends)
    except CompileError as exc:
        _report(exc.diagnostics, args)
        return EXIT_UNUSABLE
    by_name = {b.name: b for b in backends}
    report = _rendered(diagnostics, args)
    if report:
        print(report, file=sys.stderr)
    if any(d.is_error for d in diagnostics):
        print(f"orch: {sum(d.is_error for d in diagnostics)} error(s); nothing written", file=sys.stderr)
        return EXIT_ERRORS

    source = describe_inputs(inputs)
    outputs = []
    try:
        for name, out_dir in targets:
            outputs.append((out_dir, by_name[name].emit(project, source)))
        plans = codegen.write_trees(root, outputs, check=check)
    except CompileError as exc:
        _report(exc.diagnostics, args)
        return EXIT_ERRORS
    status = _said(plans, check)
    if status == EXIT_OK and (not check or not any(p.changed for p in plans)):
        total = {p.out_dir: len(p.writes) + len(p.unchanged) for p in plans}
        stamp.save(compile_key, dict(outputs), report,
                   [f"{d}: 0 written, 0 removed, {n} unchanged" for d, n in total.items()])
    return status


def _as_last_time(previous: dict, check: bool) -> int:
    """Nothing orch reads has changed, and the outputs are as the last compile left
    them: say what that compile said."""
    if previous["report"]:
        print(previous["report"], file=sys.stderr)
    if check:
        print("orch: generated files are up to date", file=sys.stderr)
    else:
        for line in previous["summary"]:
            print(line, file=sys.stderr)
    return EXIT_OK


def _said(plans, check: bool) -> int:
    """What was written (or, with --check, what would be); the exit status."""
    status = EXIT_OK
    for p in plans:
        if check:
            for rel in p.writes:
                print(f"would rewrite {os.path.join(p.out_dir, rel)}")
            for rel in p.removes:
                print(f"would remove {os.path.join(p.out_dir, rel)}")
            if p.changed:
                status = EXIT_ERRORS
        else:
            print(
                f"{p.out_dir}: {len(p.writes)} written, {len(p.removes)} removed, "
                f"{len(p.unchanged)} unchanged",
                file=sys.stderr,
            )
    if check and status == EXIT_OK:
        print("orch: generated files are up to date", file=sys.stderr)
    return status


def _cmd_compile(args: argparse.Namespace) -> int:
    targets = [(name, os.path.join(args.out, name)) for name in dict.fromkeys(args.target)]
    return run_compile(args.inputs, targets, _build_options(args), args, args.check, args.out)


def _build_and_report(args: argparse.Namespace) -> tuple[ir.Project | None, list[Diagnostic]]:
    """Build the project and print its diagnostics; no project if the input is unusable."""
    try:
        project, diagnostics = build(args.inputs, _build_options(args))
    except CompileError as exc:
        _report(exc.diagnostics, args)
        return None, list(exc.diagnostics)
    _report(diagnostics, args)
    return project, diagnostics


def _cmd_check(args: argparse.Namespace) -> int:
    project, diagnostics = _build_and_report(args)
    if project is None:
        return EXIT_UNUSABLE
    errors = sum(d.is_error for d in diagnostics)
    if args.format == "text":
        print(f"orch: {errors} error(s), {len(diagnostics) - errors} warning(s)", file=sys.stderr)
    return EXIT_ERRORS if errors else EXIT_OK


def _cmd_ir(args: argparse.Namespace) -> int:
    project, diagnostics = _build_and_report(args)
    if project is None:
        return EXIT_UNUSABLE
    sys.stdout.write(serde.dumps(project))
    return EXIT_ERRORS if any(d.is_error for d in diagnostics) else EXIT_OK


def _cmd_graph(args: argparse.Namespace) -> int:
    """Draw the lineage; a project with errors is drawn too, with the errors on its assets."""
    from orch.compiler import lineage

    project, diagnostics = _build_and_report(args)
    if project is None:
        return EXIT_UNUSABLE
    picture = lineage.view(project, diagnostics)
    text = {"html": lineage.html, "mermaid": lineage.mermaid, "dot": lineage.dot}[args.graph_format](picture)
    if args.out in (None, "-") and args.graph_format != "html":
        sys.stdout.write(text)
    else:
        out = args.out or "lineage.html"
        if os.path.dirname(out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
        codegen.write_text_atomic(out, text)
        print(f"orch: wrote {out} ({len(picture.nodes)} assets, {len(picture.edges)} edges)", file=sys.stderr)
    return EXIT_ERRORS if any(d.is_error for d in diagnostics) else EXIT_OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from orch.compiler import explain
    from orch.compiler.frontends.dsl_select import AssetIndex

    try:
        project, diagnostics = build(args.inputs, _build_options(args))
    except CompileError as exc:
        _report(exc.diagnostics, args)
        return EXIT_UNUSABLE
    assets = project.asset_map()
    index = AssetIndex(assets, {})
    try:
        keys = index.select(args.asset)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not keys:
        hint = did_you_mean(args.asset, index.names())
        raise UsageError(f"no asset {args.asset!r} in {describe_inputs(args.inputs)}{hint}")
    print("\n\n".join(explain.explain(project, diagnostics, key) for key in keys))
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    """Load both outputs through their platforms and list every difference."""
    from orch.compiler import parity

    if args.source == args.dest:
        raise UsageError("--from and --to name the same platform")
    for name in (args.source, args.dest):
        try:
            readable = backend.load(name).READS_BACK
        except CompileError as exc:
            print(render_all(exc.diagnostics, "text", False), file=sys.stderr)
            return EXIT_UNUSABLE
        if not readable:
            able = [n for n in backend.available() if _reads_back(n)]
            raise UsageError(f"backend {name!r} cannot read its output back; orch diff compares {', '.join(able)}")
    try:
        sides = [parity.read(name, os.path.join(args.out_dir, name)) for name in (args.source, args.dest)]
    except parity.UnreadableOutput as exc:
        print(f"orch: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    differences = parity.compare(*sides, names=(args.source, args.dest))
    if args.format == "json":
        print(json.dumps({"differences": differences, args.source: sides[0], args.dest: sides[1]}, indent=2))
    else:
        for line in differences:
            print(line)
        print(f"orch: {args.source}: {parity.summary(sides[0])}", file=sys.stderr)
        print(f"orch: {args.dest}: {parity.summary(sides[1])}", file=sys.stderr)
        verdict = f"{len(differences)} difference(s)" if differences else "the same pipelines"
        print(f"orch: {args.source} and {args.dest} outputs in {args.out_dir}: {verdict}", file=sys.stderr)
    return EXIT_ERRORS if differences else EXIT_OK


def _reads_back(name: str) -> bool:
    try:
        return backend.load(name).READS_BACK
    except CompileError:
        return False


def _cmd_backends(args: argparse.Namespace) -> int:
    rows = []
    problems = []
    try:
        names = backend.available()
    except CompileError as exc:
        _report(exc.diagnostics, args)
        return EXIT_UNUSABLE
    for name in names:
        try:
            cls = backend.load(name)
        except CompileError as exc:
            problems.extend(exc.diagnostics)
            continue
        rows.append({"name": name, "description": cls.description, "capabilities": cls.capabilities()})
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            caps = ", ".join(k for k, v in row["capabilities"].items() if v) or "-"
            print(f"{row['name']:<12} {row['description']}\n{'':<12} supports: {caps}")
    if problems:
        print(render_all(problems, "text", _color(args)), file=sys.stderr)
        return EXIT_UNUSABLE
    return EXIT_OK


def _cmd_fmt(args: argparse.Namespace) -> int:
    """Rewrite specs in the canonical layout; with --check, only say which would change."""
    from orch.compiler.frontends import dsl_syntax

    status = EXIT_OK
    for path in args.files:
        try:
            spec = dsl_syntax.read_spec(path)
        except CompileError as exc:
            _report(exc.diagnostics, args)
            status = EXIT_UNUSABLE
            continue
        formatted = dsl_syntax.format_spec(spec)
        if formatted == spec.text:
            continue
        if args.check:
            print(f"would reformat {path}")
            status = max(status, EXIT_ERRORS)
        else:
            codegen.write_text_atomic(path, formatted)
            print(f"reformatted {path}", file=sys.stderr)
    return status


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="orch", description="Compile dbt, SQLMesh and .orch specs into orchestration code.")
    parser.add_argument("--version", action="version", version=f"orch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_compiling_commands(sub)
    _add_reading_commands(sub)
    return parser


def _add_compiling_commands(sub) -> None:
    """compile, check, ir and fmt."""
    p = sub.add_parser("compile", help="write generated files for one or more backends")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="manifest.json, SQLMesh project folder or .orch file")
    p.add_argument("--target", "-t", action="append", required=True, metavar="NAME",
                   help="backend to compile for (see `orch backends`); repeatable")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="each target writes into DIR/<target>/")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the files on disk differ from what would be written")
    _add_build_options(p)
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("check", help="report diagnostics only")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    _add_build_options(p)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("ir", help="print the checked IR as JSON")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    _add_build_options(p)
    p.set_defaults(func=_cmd_ir)

    p = sub.add_parser("fmt", help="rewrite .orch specs in the canonical layout")
    p.add_argument("files", nargs="+", metavar="FILE", help=".orch spec files")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is not formatted")
    p.add_argument("--format", choices=("text", "json"), default="text", help="diagnostics format")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.set_defaults(func=_cmd_fmt)


def _add_reading_commands(sub) -> None:
    """graph, explain, diff, backends, and the monitors' health and sla."""
    p = sub.add_parser("graph", help="draw the lineage: a self-contained HTML page, Mermaid or Graphviz")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--out", metavar="FILE", help="where to write (default: lineage.html; stdout for mermaid/dot)")
    p.add_argument("--format", dest="graph_format", choices=("html", "mermaid", "dot"), default="html",
                   help="html (default), mermaid or dot")
    _add_build_options(p, diagnostics_format=False)
    p.set_defaults(func=_cmd_graph, format="text")

    p = sub.add_parser("explain", help="where an asset comes from, what it feeds, and what the passes said")
    p.add_argument("asset", metavar="ASSET", help="a name, unique_id or selector (tag:x, +name, ...)")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    _add_build_options(p, diagnostics_format=False)
    p.set_defaults(func=_cmd_explain, format="text")

    p = sub.add_parser("diff", help="prove the Airflow and Dagster outputs of one compile mean the same pipelines")
    p.add_argument("out_dir", metavar="OUT_DIR", help="the --out folder of `orch compile -t airflow -t dagster`")
    p.add_argument("--from", dest="source", default="airflow", metavar="BACKEND",
                   help="a backend whose output orch can read back (default: airflow)")
    p.add_argument("--to", dest="dest", default="dagster", metavar="BACKEND",
                   help="the other side (default: dagster)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_cmd_diff)

    p = sub.add_parser("backends", help="list installed backends and their capabilities")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.set_defaults(func=_cmd_backends)

    # Listed for `orch --help`; `main` hands their arguments to the monitor's own parser.
    sub.add_parser("health", help="run the health checks of a health-config.json (see `orch health --help`)",
                   add_help=False)
    sub.add_parser("sla", help="track the SLAs of an sla-config.json (see `orch sla --help`)", add_help=False)


def _guarded(run, argv) -> int:
    try:
        return run(argv)
    except UsageError as exc:
        print(f"orch: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("ORCH_DEBUG"):
            raise
        print(
            f"orch: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in orch; rerun with ORCH_DEBUG=1 for the traceback and report it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    def run(argv):
        argv = list(sys.argv[1:] if argv is None else argv)
        if argv and argv[0] in ("health", "sla"):
            from orch.monitor import cli as monitor_cli

            return monitor_cli.main(argv[0], argv[1:], prog=f"orch {argv[0]}")
        args = _parser().parse_args(argv)
        return args.func(args)

    return _guarded(run, argv)


# -- the seed's command names ------------------------------------------------


def _seed_main(prog: str, target: str, argv: Sequence[str] | None) -> int:
    def run(argv):
        parser = _Parser(prog=prog, description=f"Generate {target} code (a wrapper over `orch compile`).")
        parser.add_argument("--project-type", choices=("dbt", "sqlmesh", "orch"), default="dbt")
        parser.add_argument("--manifest-path", help="dbt manifest.json (with --project-type dbt)")
        parser.add_argument("--project-path", help="SQLMesh project folder (with --project-type sqlmesh)")
        parser.add_argument("--spec", help=".orch spec file (with --project-type orch)")
        parser.add_argument("--output-dir", required=True, help="folder to write into")
        parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if files would change")
        _add_build_options(parser)
        args = parser.parse_args(argv)
        flag = {"dbt": "manifest_path", "sqlmesh": "project_path", "orch": "spec"}[args.project_type]
        source = getattr(args, flag)
        if not source:
            raise UsageError(f"--project-type {args.project_type} needs --{flag.replace('_', '-')}")
        return run_compile([source], [(target, args.output_dir)], _build_options(args), args, args.check,
                           args.output_dir)

    return _guarded(run, argv)


def airflow_dag_gen(argv: Sequence[str] | None = None) -> int:
    return _seed_main("airflow-dag-gen", "airflow", argv)


def dagster_asset_gen(argv: Sequence[str] | None = None) -> int:
    return _seed_main("dagster-asset-gen", "dagster", argv)


def entry_airflow_dag_gen() -> None:
    sys.exit(airflow_dag_gen())


def entry_dagster_asset_gen() -> None:
    sys.exit(dagster_asset_gen())


def entry_main() -> None:
    sys.exit(main())
