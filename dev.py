#!/usr/bin/env python3
"""Set up and run orch from a fresh clone, with nothing but python3.

    python3 dev.py example   # set up .venv, then compile the shipped example
    python3 dev.py test      # set up .venv, then run the whole test suite
    python3 dev.py bench     # set up .venv with the anchors, then run bench/ (see bench/run.py)
    python3 dev.py setup     # only set up .venv
    python3 dev.py lock      # rewrite constraints.txt from the current .venv

Set-up creates `.venv` at the repository root and installs orch (editable)
with every test dependency, pinned by constraints.txt. It is skipped when
pyproject.toml and constraints.txt have not changed since the last set-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
BIN = os.path.join(VENV, "bin")
PYTHON = os.path.join(BIN, "python")
STAMP = os.path.join(VENV, ".orch-setup")
# What the monitors must find in the example: the feed its loader stamps stale on purpose.
EXPECTED_FINDING = "jaffle_shop.raw.raw_payments/freshness"
EXAMPLE = os.path.join(ROOT, "specs", "jaffle_shop")
BUILD = os.path.join(ROOT, "build")


def run(*cmd: str, **kwargs) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)


def _fingerprint(extras: str) -> str:
    digest = hashlib.sha256(extras.encode())
    for name in ("pyproject.toml", "constraints.txt"):
        with open(os.path.join(ROOT, name), "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()


def setup(extras: str = "test") -> None:
    want = _fingerprint(extras)
    if os.path.exists(STAMP) and open(STAMP).read() == want:
        return
    if not os.path.exists(PYTHON):
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    pip = (PYTHON, "-m", "pip", "--disable-pip-version-check")
    constraints = os.path.join(ROOT, "constraints.txt")
    # The distribution was called orch before it was orch-compiler. A checkout set
    # up then keeps both installs, and orch.egg-info beside pyproject.toml, which
    # Python finds from the repository's root: every backend would be registered twice.
    subprocess.run([*pip, "uninstall", "--quiet", "--yes", "orch"], check=False, capture_output=True)
    shutil.rmtree(os.path.join(ROOT, "orch.egg-info"), ignore_errors=True)
    run(*pip, "install", "--quiet", "-c", constraints, "pip", "setuptools", "wheel")
    run(*pip, "install", "--quiet", "-c", constraints, "-e", f"{ROOT}[{extras}]")
    # dagster-dbt (a benchmark anchor) asks for sqlglot[rs], which brings the
    # compiled sqlglotc; sqlmesh subclasses sqlglot's parser and cannot import
    # against the compiled classes. Pure-Python sqlglot serves both.
    run(*pip, "uninstall", "--quiet", "--yes", "sqlglotc", "sqlglotrs")
    with open(STAMP, "w") as fh:
        fh.write(want)


def example() -> None:
    """The main job: build the example dbt project into DuckDB, compile it for
    every backend, then run the health and SLA monitors against that DuckDB file."""
    setup()
    env = dict(os.environ, ORCH_EXAMPLE_DUCKDB=os.path.join(BUILD, "jaffle_shop.duckdb"))
    os.makedirs(BUILD, exist_ok=True)
    dbt = [os.path.join(BIN, "dbt")]
    where = ["--project-dir", EXAMPLE, "--profiles-dir", EXAMPLE]
    # The seeds play the loader that fills the raw sources, so they load first.
    run(*dbt, "seed", "--quiet", *where, env=env)
    run(*dbt, "build", "--quiet", *where, env=env)
    # The loader stamps what it loaded (after the build, which loads the seeds again):
    # one feed stale on purpose, for the monitors to catch.
    run(PYTHON, os.path.join(EXAMPLE, "load_raw.py"), env["ORCH_EXAMPLE_DUCKDB"])
    manifest = os.path.relpath(os.path.join(EXAMPLE, "target", "manifest.json"), ROOT)
    targets = [arg for t in ("ir", "airflow", "dagster", "health", "sla") for arg in ("--target", t)]
    run(os.path.join(BIN, "orch"), "compile", manifest, *targets, "--out", "build",
        "--option", "duckdb_path=../jaffle_shop.duckdb", cwd=ROOT)
    orch = os.path.join(BIN, "orch")
    # The same project through a spec: pipelines, SLAs and health checks written in .orch.
    run(orch, "compile", "specs/marts.orch", "--target", "airflow", "--target", "dagster", "--out",
        "build/spec", cwd=ROOT)
    print("\n$ orch health --config build/health/health-config.json", flush=True)
    health = subprocess.call([orch, "health", "--config", "build/health/health-config.json",
                              "--output", "build/health-results.json"], cwd=ROOT)
    run_results = os.path.relpath(os.path.join(EXAMPLE, "target", "run_results.json"), ROOT)
    print(f"\n$ orch sla --config build/sla/sla-config.json --run-results {run_results} --report", flush=True)
    sla = subprocess.call([orch, "sla", "--config", "build/sla/sla-config.json", "--run-results", run_results,
                           "--report", "--format", "html", "--output", "build/sla-report.html"], cwd=ROOT)
    print("\nThe example's pipelines: build/ir/project.ir.json (IR), build/airflow/*.py (Airflow DAGs),"
          " build/dagster/ (a Dagster code location: cd there and run `dagster dev`),"
          " build/health/ and build/sla/ (the monitors' configs), build/sla-report.html (the SLA report),"
          " build/spec/ (the same project compiled from specs/marts.orch),"
          " build/orch-history.sqlite (the monitors' history).")
    if 2 in (health, sla):
        sys.exit(2)
    # The monitors behave as designed when they find exactly the stale feed the loader made.
    with open(os.path.join(BUILD, "health-results.json"), encoding="utf-8") as fh:
        results = json.load(fh)["results"]
    expected = EXPECTED_FINDING
    found = sorted(r["key"] for r in results if r["status"] not in ("pass", "warn"))
    if found != [expected] or sla != 1:
        print(f"\nunexpected: the monitors should find only {expected}; they found {found or 'nothing'}"
              f" (orch health exit {health}, orch sla exit {sla})", file=sys.stderr)
        sys.exit(1)
    print(f"\nAs expected: FAIL {expected}. The example's loader (specs/jaffle_shop/load_raw.py)"
          " stamps the payments feed 72 hours old on purpose, and the monitors caught it (the SLA report"
          " too); every other check passed.")


def ensure_chromium() -> None:
    """The lineage page is tested in a real headless Chromium: Debian's, installed
    here when missing and the machine lets us (as root, with apt)."""
    if shutil.which("chromium") or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env).returncode != 0:
        run("apt-get", "update", "-q", env=env)
        run(*install, env=env)


def test(args: list[str]) -> int:
    setup()
    ensure_chromium()
    env = dict(os.environ)
    # A stray ORCH_CACHE_DIR or dbt profile must not leak into the suite.
    env.pop("ORCH_CACHE_DIR", None)
    env.pop("DBT_PROFILES_DIR", None)
    return subprocess.run([PYTHON, "-m", "pytest", *args], cwd=ROOT, env=env).returncode


def bench(args: list[str]) -> int:
    """The scale benchmarks, with astronomer-cosmos and dagster-dbt installed beside the test set."""
    setup("test,bench")
    return subprocess.run([PYTHON, os.path.join(ROOT, "bench", "run.py"), *args], cwd=ROOT).returncode


def lock() -> None:
    """Pin what .venv holds now; pins of packages it lacks (other extras) are kept."""
    setup()
    frozen = subprocess.run(
        [PYTHON, "-m", "pip", "freeze", "--exclude-editable", "--all"],
        check=True, capture_output=True, text=True,
    ).stdout
    path = os.path.join(ROOT, "constraints.txt")
    pins = {}
    with open(path) as fh:
        header = [line for line in fh.read().splitlines() if line.startswith("#")]
        fh.seek(0)
        for line in fh.read().splitlines():
            if "==" in line and not line.startswith("#"):
                pins[line.split("==")[0].lower()] = line
    for line in frozen.splitlines():
        if "==" in line and not line.startswith(("orch-compiler==", "orch_compiler==", "pip==")):
            pins[line.split("==")[0].lower()] = line
    with open(path, "w") as fh:
        fh.write("\n".join(header + [pins[k] for k in sorted(pins)]) + "\n")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("setup", "example", "test", "bench", "lock", "clean"):
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "test":
        return test(rest)
    if command == "bench":
        return bench(rest)
    if command == "clean":
        shutil.rmtree(VENV, ignore_errors=True)
        shutil.rmtree(BUILD, ignore_errors=True)
        return 0
    {"setup": setup, "example": example, "lock": lock}[command]()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as exc:
        print(f"dev.py: command failed with exit code {exc.returncode}", file=sys.stderr)
        sys.exit(exc.returncode or 1)
