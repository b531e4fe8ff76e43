"""`orch graph` and `orch explain`: the lineage page in a real headless Chromium,
the Mermaid and Graphviz text, and an asset explained with the passes' reasoning."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from orch.compiler.driver import BuildOptions, build
from orch.compiler.lineage import dot, mermaid, view
from tests.conftest import corpus, orch

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BIG = "GENERATED_tuva_integration_tests_1200models_v12_dbt1.10.23_duckdb"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: dev.py installs Debian's chromium for the test suite")
        pytest.skip("Debian's chromium is not installed here (python3 dev.py test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # The flags keep Chromium from reaching out to the network, which is closed here.
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


def _open(browser, page_path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    started = time.monotonic()
    page.goto(page_path.as_uri())
    page.wait_for_function("window.orchLineage !== undefined", timeout=30_000)
    return page, problems, requests, time.monotonic() - started


def test_lineage_page_of_the_mixed_example(browser, specs, tmp_path):
    out = tmp_path / "lineage.html"
    result = orch("graph", str(specs / "mixed.orch"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    project, _ = build([str(specs / "mixed.orch")], BuildOptions())
    from orch.compiler.shared import look

    assert look.STYLE in out.read_text()  # one look with the monitors' reports
    page, problems, requests, _ = _open(browser, out)
    assert problems == [] and requests == []
    shown = page.evaluate("({a: orchLineage.assets, e: orchLineage.edges, p: orchLineage.pipelines})")
    assert shown == {"a": len(project.assets), "e": sum(len(a.upstream) for a in project.assets),
                     "p": len(project.pipelines)}
    # Cross-pipeline edges are marked: the snapshot pipeline reads stg_customers from shop_daily.
    cross = page.evaluate("orchLineage.cy.edges('[?cross]').map(e => [e.source().data('name'), e.target().data('name')])")
    assert ["stg_customers", "customers_snapshot"] in cross
    # Hovering an asset shows its pipeline, schedule, SLA, freshness and checks.
    box = page.evaluate("""(() => { const n = orchLineage.cy.$id('model.jaffle_shop.fct_orders');
        const p = n.renderedPosition(); const r = document.getElementById('graph').getBoundingClientRect();
        return {x: p.x + r.left, y: p.y + r.top}; })()""")
    page.mouse.move(box["x"], box["y"])
    tip = page.locator("#tip")
    tip.wait_for(state="visible", timeout=5000)
    text = tip.inner_text()
    assert "fct_orders" in text and "shop_daily" in text and "0 5 * * *" in text and "4h" in text
    assert "not_null_fct_orders_order_id" in text and "critical" in text
    # The search box narrows the picture to what matches.
    assert page.evaluate("orchLineage.search('sqlmesh.')") == "7 matches"
    assert page.evaluate("orchLineage.cy.nodes('.match').length") == 7
    page.evaluate("orchLineage.search('')")
    page.mouse.move(5, 5)
    shot = tmp_path / "mixed.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    assert problems == []


def test_lineage_page_of_1200_models_renders_quickly(browser, tmp_path):
    out = tmp_path / "big.html"
    result = orch("graph", str(corpus(BIG)), "--out", str(out))
    assert result.returncode in (0, 1), result.stderr
    project, _ = build([str(corpus(BIG))], BuildOptions())
    page, problems, requests, seconds = _open(browser, out)
    assert problems == [] and requests == []
    assert page.evaluate("orchLineage.assets") == len(project.assets) > 1200
    # Responsive: a search over every asset answers at once.
    started = time.monotonic()
    answer = page.evaluate("orchLineage.search('claims')")
    searched = time.monotonic() - started
    assert answer.endswith(("match", "matches")) and not answer.startswith("0 ")
    page.screenshot(path=str(tmp_path / "big.png"))
    # Bounds for a loaded 2-core machine (here: 1 to 3 s to draw, under 0.1 s to search).
    print(f"1,200-model page drawn in {seconds:.2f} s, searched in {searched:.2f} s")
    assert seconds < 10 and searched < 3, (seconds, searched)


def test_hostile_names_stay_text_in_the_page(browser, tmp_path):
    spec_dir = tmp_path / "s"
    spec_dir.mkdir()
    evil = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    (spec_dir / "evil.orch").write_text(
        'task "t1" {\n  command = "true"\n  description = ' + json.dumps(evil) + '\n  owner = ' + json.dumps(evil)
        + '\n}\n\ntask "t2" {\n  command = "true"\n  after = ["t1"]\n}\n')
    out = tmp_path / "evil.html"
    result = orch("graph", str(spec_dir / "evil.orch"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    page, problems, _, _ = _open(browser, out)
    assert page.evaluate("window.pwned === undefined")
    assert page.evaluate("orchLineage.cy.$id('task.t1').data('owner')") == evil
    assert problems == []


def test_mermaid_and_dot_text(specs):
    project, diagnostics = build([str(specs / "mixed.orch")], BuildOptions())
    picture = view(project, diagnostics)
    text = mermaid(picture)
    assert text.startswith("flowchart LR\n")
    assert text.count("subgraph ") == len(picture.groups)
    assert text.count("-.->") == sum(e.cross for e in picture.edges) > 0
    assert text.count(" --> ") == sum(not e.cross for e in picture.edges)
    assert 'subgraph g1["shop_daily · 0 5 * * * · SLA 4h"]' in text
    graph = dot(picture)
    assert graph.count(" -> ") == len(picture.edges)
    assert graph.count("subgraph cluster_") == len(picture.groups)
    assert graph.count("style=dashed") == sum(e.cross for e in picture.edges)
    # The CLI writes the same text to stdout.
    assert orch("graph", str(specs / "mixed.orch"), "--format", "mermaid").stdout == text


def test_explain_shows_an_infeasible_sla_with_the_pass_reasoning(specs, tmp_path):
    results = tmp_path / "run_results.json"
    results.write_text(json.dumps({"results": [
        {"unique_id": "model.jaffle_shop.stg_orders", "execution_time": 2400.0},
        {"unique_id": "model.jaffle_shop.fct_orders", "execution_time": 4000.0},
    ]}))
    result = orch("explain", "fct_orders", str(specs / "marts.orch"), "--run-results", str(results))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("fct_orders  [model.jaffle_shop.fct_orders]")
    assert "pipeline     marts_daily, schedule 0 6 * * * (UTC), pipeline SLA 2h (critical)" in text
    assert "SLA          done within 90m of the scheduled start (critical)" in text
    assert "freshness    at most 1d old, warn after 12h, measured on updated_at" in text
    assert "stg_orders [model.jaffle_shop.stg_orders], marts_daily" in text
    assert "revenue_dashboard [exposure.jaffle_shop.revenue_dashboard]" in text
    assert "orders_per_day: row_count, warn" in text
    # The pass's reasoning: the recorded chain that makes 90 minutes impossible.
    assert ("error[E042] fct_orders: completion SLA of 90m is shorter than the recorded critical path of "
            "106.7 min in ") in text
    assert "stg_orders (2400s) -> fct_orders (4000s)" in text


def test_explain_an_infeasible_freshness_target(specs, tmp_path):
    path = specs / "stale.orch"
    path.write_text('dbt "jaffle" {\n  manifest = "jaffle_shop/target/manifest.json"\n}\n\n'
                    'asset "dim_customers" {\n  freshness {\n    max_age = 2h\n  }\n}\n')
    try:
        result = orch("explain", "dim_customers", str(path))
    finally:
        path.unlink()
    assert result.returncode == 0, result.stderr
    assert ("error[E041] dim_customers must be at most 2h old (freshness target) but it runs @daily, so just "
            "before a run its data is up to 24h old") in result.stdout


def test_explain_unknown_asset_suggests(specs):
    result = orch("explain", "fct_order", str(specs / "marts.orch"))
    assert result.returncode == 2
    assert "no asset 'fct_order'" in result.stderr and "did you mean 'fct_orders'" in result.stderr
