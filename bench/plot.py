"""RESULTS.md and results.svg from the benchmark numbers."""

from __future__ import annotations

import html
import math

SERIES = [
    ("json_load_s", "json.load (floor)", "#9aa5b1"),
    ("compile_cold_s", "orch compile, all backends, cold", "#3b6fd8"),
    ("airflow_ours_s", "Airflow DagBag: orch DAGs", "#1b7f3b"),
    ("airflow_hand_s", "Airflow DagBag: hand-written", "#7bc47f"),
    ("airflow_cosmos_s", "Airflow DagBag: cosmos DbtDag", "#c53030"),
    ("dagster_ours_s", "Dagster load: orch", "#6b46c1"),
    ("dagster_dbt_s", "Dagster load: dagster-dbt", "#d69e2e"),
]


def write(results: list[dict], path: str, width: int = 760, height: int = 420, series=SERIES,
          line: tuple[float, str] | None = (30, "Airflow import timeout (30 s)")) -> None:
    """A log-scale line per series over the sizes; `line` a horizontal mark (value, label)."""
    left, right, top, bottom = 60, 250, 20, 40
    pw, ph = width - left - right, height - top - bottom
    sizes = [r["models"] for r in results]
    values = [r[k] for r in results for k, _, _ in series if r.get(k)]
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    xs = {n: left + (pw * i / max(len(sizes) - 1, 1)) for i, n in enumerate(sizes)}

    def y(v: float) -> float:
        return top + ph * (1 - (math.log10(v) - lo) / max(hi - lo, 1))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" font-family="sans-serif" '
           f'font-size="11">', f'<rect width="{width}" height="{height}" fill="white"/>']
    for e in range(lo, hi + 1):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(10**e):.1f}" y2="{y(10**e):.1f}" stroke="#e4e7eb"/>'
                   f'<text x="{left - 6}" y="{y(10**e) + 4:.1f}" text-anchor="end">{10**e:g} s</text>')
    for n, x in xs.items():
        out.append(f'<text x="{x:.1f}" y="{height - 18}" text-anchor="middle">{n:,} models</text>')
    if line is not None:
        mark, text = line
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(mark):.1f}" y2="{y(mark):.1f}" stroke="#c53030" '
                   f'stroke-dasharray="4 3"/><text x="{left + 4}" y="{y(mark) - 4:.1f}" fill="#c53030">'
                   f"{html.escape(text)}</text>")
    for i, (key, label, colour) in enumerate(series):
        points = [(xs[r["models"]], y(r[key])) for r in results if r.get(key)]
        if points:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                       + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
            out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points]
        ly = top + 14 + i * 18
        out.append(f'<rect x="{width - right + 16}" y="{ly - 9}" width="12" height="4" fill="{colour}"/>'
                   f'<text x="{width - right + 34}" y="{ly - 4}">{html.escape(label)}</text>')
    out.append("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")


def _s(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def _x(a, b) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def targets(r: dict) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met); met is None for a row that is there for scale, not a target."""
    cosmos_failed = bool(r.get("airflow_cosmos_errors"))
    rows = [
        ("Airflow parse <= 1.25x hand-written", _x(r["airflow_ours_s"], r["airflow_hand_s"]),
         r["airflow_ours_s"] <= 1.25 * r["airflow_hand_s"]),
        ("Airflow parse >= 20x faster than cosmos (or cosmos fails to load)",
         ("cosmos fails to load; " if cosmos_failed else "") + _x(r["airflow_cosmos_s"], r["airflow_ours_s"]),
         cosmos_failed or r["airflow_cosmos_s"] >= 20 * r["airflow_ours_s"]),
        ("Dagster load <= 0.3x dagster-dbt", _x(r["dagster_ours_s"], r["dagster_dbt_s"]) + (
            f" (Dagster's own floor for as many bare specs and checks: {_x(r['dagster_floor_s'], r['dagster_dbt_s'])})"
            if "dagster_floor_s" in r else ""), r["dagster_ours_s"] <= 0.3 * r["dagster_dbt_s"]),
    ]
    if r.get("dagster_ours_pyc_s"):
        rows.append(("Dagster load <= 0.3x dagster-dbt, both from bytecode",
                     f"{_x(r['dagster_ours_pyc_s'], r['dagster_dbt_pyc_s'])} ({_s(r['dagster_ours_pyc_s'])} s / "
                     f"{_s(r['dagster_dbt_pyc_s'])} s)", r["dagster_ours_pyc_s"] <= 0.3 * r["dagster_dbt_pyc_s"]))
    rows += [
        ("cold compile <= 8x json.load", _x(r["compile_cold_s"], r["json_load_s"]),
         r["compile_cold_s"] <= 8 * r["json_load_s"]),
        ("no-change recompile <= 1.5x json.load", _x(r["compile_nochange_s"], r["json_load_s"]),
         r["compile_nochange_s"] <= 1.5 * r["json_load_s"]),
        ("one-model change <= 2x json.load", _x(r["compile_onechange_s"], r["json_load_s"]),
         r["compile_onechange_s"] <= 2 * r["json_load_s"]),
    ]
    if r.get("build_only_s"):
        rows.append(("(for scale: read, lower and check alone, before any backend)",
                     _x(r["build_only_s"], r["json_load_s"]), None))
    rows += [
        ("incremental output byte-identical to cold", str(r["incremental_identical"]), r["incremental_identical"]),
        ("peak RSS <= 2.5x json.load's", _x(r["compile_rss_mb"], r["json_load_rss_mb"]),
         r["compile_rss_mb"] <= 2.5 * r["json_load_rss_mb"]),
    ]
    return rows


def markdown(results: list[dict], machine: dict, repeat: int) -> str:
    lines = [
        "# orch scale benchmarks",
        "",
        f"Written by `python3 dev.py bench` on {machine['date']}: {machine['cpus']} CPUs, Python "
        f"{machine['python']}, {machine['platform']}. Every number is the median of {repeat} runs, each in a "
        "fresh process, timed from before its imports; ratios are taken within the same run.",
        "Projects: generated dbt-duckdb projects (sources, staging views, ephemeral intermediates, incremental "
        "partitioned marts with meta, tags and tests) parsed by real `dbt parse`; see `bench/generate.py`.",
        "",
        "![times by project size](results.svg)",
        "",
        "## Times (seconds)",
        "",
        "| models | manifest MB | json.load | orjson | compile cold | no change | one change | "
        "Airflow: orch | hand-written | cosmos | Dagster: orch | dagster-dbt |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        cosmos = _s(r["airflow_cosmos_s"]) + (" (failed)" if r.get("airflow_cosmos_errors") else "")
        lines.append(
            f"| {r['models']:,} | {r['manifest_mb']} | {_s(r['json_load_s'])} | {_s(r['orjson_load_s'])} | "
            f"{_s(r['compile_cold_s'])} | {_s(r['compile_nochange_s'])} | {_s(r['compile_onechange_s'])} | "
            f"{_s(r['airflow_ours_s'])} | {_s(r['airflow_hand_s'])} | {cosmos} | {_s(r['dagster_ours_s'])} | "
            f"{_s(r['dagster_dbt_s'])} |")
    lines += ["", "## Sizes and memory", "",
              "| models | Airflow tasks (orch / cosmos) | Dagster assets + checks (orch / dagster-dbt) | "
              "peak RSS MB: json.load / compile |", "|---:|---|---|---|"]
    for r in results:
        lines.append(f"| {r['models']:,} | {r['airflow_tasks']:,} / {r['airflow_cosmos_tasks']:,} | "
                     f"{r['dagster_ours_assets']:,} + {r['dagster_ours_checks']:,} / "
                     f"{r['dagster_dbt_assets']:,} + {r['dagster_dbt_checks']:,} | "
                     f"{r['json_load_rss_mb']:.0f} / {r['compile_rss_mb']:.0f} |")
    errors = [(r["models"], k, v) for r in results for k, v in (r.get("airflow_cosmos_errors") or {}).items()]
    if errors:
        lines += ["", "Cosmos import errors (Airflow's DagBag):", ""]
        lines += [f"- {n:,} models, `{k}`: {v}" for n, k, v in errors]
    ten = next((r for r in results if r["models"] == 10_000), results[-1])
    lines += ["", f"## Targets (at {ten['models']:,} models)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'-' if ok is None else 'yes' if ok else '**no**'} |"
              for name, value, ok in targets(ten)]
    by_n = {r["models"]: r for r in results}
    if 10_000 in by_n and 20_000 in by_n:
        ratio = by_n[20_000]["compile_cold_s"] / by_n[10_000]["compile_cold_s"]
        lines.append(f"| 20k/10k cold compile time <= 2.2 | {ratio:.2f} | {'yes' if ratio <= 2.2 else '**no**'} |")
    return "\n".join(lines) + "\n"
