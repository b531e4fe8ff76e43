"""Reports of a monitor run: JSON, markdown, JUnit XML (for CI test tabs) and a
self-contained HTML page with the compliance trend drawn as an inline SVG."""

from __future__ import annotations

import datetime as dt
import html
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from orch.compiler.shared import look
from orch.monitor.checks import ERROR, FAIL, PASS, STATUSES, WARN, Result

FORMATS = ("markdown", "json", "junit", "html")


def document(kind: str, config: str, now: dt.datetime, results: Sequence[Result], compliance: dict,
             exit_code: int) -> dict:
    summary = {s: sum(r.status == s for r in results) for s in STATUSES}
    return {
        "monitor": kind,
        "config": config,
        "generated_at": now.isoformat(timespec="seconds"),
        "exit_code": exit_code,
        "summary": summary,
        "results": [r.to_json() for r in results],
        "compliance": compliance,
    }


def render(doc: dict, fmt: str) -> str:
    return {"json": _json, "markdown": _markdown, "junit": _junit, "html": _html}[fmt](doc)


def _json(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _cell(text) -> str:
    return str(text if text is not None else "-").replace("|", "\\|").replace("\n", " ")


_ICON = {PASS: "pass", WARN: "warn", FAIL: "**FAIL**", ERROR: "**ERROR**"}


def _markdown(doc: dict) -> str:
    s = doc["summary"]
    lines = [
        f"# orch {doc['monitor']} report",
        "",
        f"Config `{doc['config']}`, generated {doc['generated_at']}: "
        f"{s[PASS]} passed, {s[WARN]} warned, {s[FAIL]} failed, {s[ERROR]} errored.",
        "",
        "## Latest results",
        "",
        "| Status | Subject | Check | Observed | Threshold | Message |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["results"]:
        crit = " (critical)" if r["critical"] else ""
        lines.append(f"| {_ICON[r['status']]} | `{_cell(r['subject'])}`{crit} | {_cell(r['check'])} | "
                     f"{_cell(r['observed'])} | {_cell(r['threshold'])} | {_cell(r['message'])} |")
    comp = doc["compliance"]
    windows = comp["windows"]
    lines += ["", "## Compliance", "",
              "| Subject | Type | " + " | ".join(f"{w} days" for w in windows) + " | Trend |",
              "|---|---|" + "---|" * len(windows) + "---|"]
    for subj in comp["subjects"]:
        cells = " | ".join(_pct(subj["windows"][str(w)]["compliance_pct"]) for w in windows)
        lines.append(f"| `{_cell(subj['subject'])}` | {subj['subject_type']} | {cells} | {subj['trend']} |")
    overall = " | ".join(_pct(comp["overall"][str(w)]["compliance_pct"]) for w in windows)
    lines.append(f"| **all** | | {overall} | {comp['trend']['direction']} |")
    return "\n".join(lines) + "\n"


def _junit(doc: dict) -> str:
    s = doc["summary"]
    suite = ET.Element("testsuite", name=f"orch {doc['monitor']}", tests=str(len(doc["results"])),
                       failures=str(s[FAIL]), errors=str(s[ERROR]), skipped="0", timestamp=doc["generated_at"])
    for r in doc["results"]:
        case = ET.SubElement(suite, "testcase", classname=f"{r['subject_type']}.{r['subject']}", name=r["check"])
        if r["status"] == FAIL:
            ET.SubElement(case, "failure", message=r["message"], type=r["kind"]).text = r["message"]
        elif r["status"] == ERROR:
            ET.SubElement(case, "error", message=r["message"], type=r["kind"]).text = r["message"]
        elif r["status"] == WARN:
            ET.SubElement(case, "system-out").text = f"warning: {r['message']}"
    root = ET.Element("testsuites", name="orch", tests=suite.get("tests"), failures=suite.get("failures"),
                      errors=suite.get("errors"))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def trend_svg(days: Sequence[str], values: Sequence[float | None], width: int = 720, height: int = 200) -> str:
    """A line chart of daily compliance %; days without results leave a gap."""
    left, right, top, bottom = 44, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(days) - 1, 1)

    def x(i: int) -> float:
        return left + plot_w * i / n

    def y(v: float) -> float:
        return top + plot_h * (1 - v / 100)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="daily compliance">']
    for v in (0, 50, 100):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}%</text>')
    segment: list[str] = []
    segments = []
    for i, v in enumerate(values):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" class="point">'
                     f'<title>{html.escape(days[i])}: {v:.1f}%</title></circle>')
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(f'<polyline points="{" ".join(seg)}" class="line"/>')
    if days:
        parts.append(f'<text x="{left}" y="{height - 8}">{html.escape(days[0])}</text>'
                     f'<text x="{width - right}" y="{height - 8}" text-anchor="end">{html.escape(days[-1])}</text>')
    parts.append("</svg>")
    return "".join(parts)


# One look with `orch graph` (compiler/shared/look.py).
_STYLE = look.STYLE
_CRITICAL = ' <span class="badge critical">critical</span>'


def _html(doc: dict) -> str:
    e = html.escape
    s = doc["summary"]
    rows = "".join(
        f'<tr class="{r["status"]}"><td class="{r["status"]}">{r["status"]}</td><td><code>{e(r["subject"])}</code>'
        f'{_CRITICAL if r["critical"] else ""}</td><td>{e(r["check"])}</td>'
        f'<td>{e(str(r["observed"] if r["observed"] is not None else "-"))}</td>'
        f'<td>{e(str(r["threshold"] if r["threshold"] is not None else "-"))}</td><td>{e(r["message"])}</td></tr>'
        for r in doc["results"])
    comp = doc["compliance"]
    windows = comp["windows"]
    comp_rows = "".join(
        f'<tr><td><code>{e(c["subject"])}</code></td><td>{e(c["subject_type"])}</td>'
        + "".join(f'<td>{_pct(c["windows"][str(w)]["compliance_pct"])}</td>' for w in windows)
        + f'<td>{e(c["trend"])}</td></tr>'
        for c in comp["subjects"])
    trend = comp["trend"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>orch {e(doc["monitor"])} report</title>
<style>{_STYLE}</style></head><body>
<h1>orch {e(doc["monitor"])} report</h1>
<p>Config <code>{e(doc["config"])}</code>, generated {e(doc["generated_at"])}:
<span class="pass">{s[PASS]} passed</span>, <span class="warn">{s[WARN]} warned</span>,
<span class="fail">{s[FAIL]} failed</span>, <span class="error">{s[ERROR]} errored</span>.</p>
<h2>Compliance trend (daily, last {len(trend["days"])} days: {e(trend["direction"])})</h2>
{trend_svg(trend["days"], trend["compliance_pct"])}
<h2>Compliance</h2>
<table><thead><tr><th>Subject</th><th>Type</th>{"".join(f"<th>{w} days</th>" for w in windows)}<th>Trend</th></tr></thead>
<tbody>{comp_rows}</tbody></table>
<h2>Latest results</h2>
<table><thead><tr><th>Status</th><th>Subject</th><th>Check</th><th>Observed</th><th>Threshold</th><th>Message</th></tr>
</thead><tbody>{rows}</tbody></table>
</body></html>
"""
