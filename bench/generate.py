"""Generate a dbt-duckdb project of N models shaped like a real warehouse, and
parse it with real dbt into the manifest the benchmarks compile.

Shape (fractions of N): sources feeding staging views (30%), ephemeral
intermediates (20%), marts (50%: incremental and partitioned, or tables) that
read staging, intermediates and earlier marts, with meta (schedules, SLAs,
freshness), tags, and tests (unique / not_null on every staging model,
relationships on every fifth mart). Seeded randomness: the same N always gives
the same project.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys

#: Bump when the generated project changes, so cached manifests are rebuilt.
GENERATOR_VERSION = 3


def project_files(n: int, warehouse: str | None = None) -> dict[str, str]:
    """The project's files. With `warehouse` (a DuckDB path), the flavour the run
    benchmark builds: one daily pipeline (no hourly marts, no partitions), two
    dbt threads, written to that file."""
    rng = random.Random(n)
    n_staging = max(1, n * 3 // 10)
    n_int = max(1, n * 2 // 10)
    n_marts = n - n_staging - n_int
    n_sources = max(5, n_staging // 3)
    files: dict[str, str] = {
        "dbt_project.yml": (
            "name: warehouse\nversion: '1.0'\nconfig-version: 2\nprofile: warehouse\n"
            "models:\n  warehouse:\n    staging:\n      +materialized: view\n"
            "    intermediate:\n      +materialized: ephemeral\n    marts:\n      +materialized: table\n"
        ),
        "profiles.yml": (
            "warehouse:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
            f"      path: {warehouse or 'warehouse.duckdb'}\n      threads: {2 if warehouse else 1}\n"
        ),
    }
    tables = "\n".join(
        f"      - name: table_{i}\n"
        + ("        loaded_at_field: _loaded_at\n        freshness:\n          warn_after: {count: 12, period: hour}\n"
           "          error_after: {count: 36, period: hour}\n" if i % 4 == 0 else "")
        for i in range(n_sources))
    files["models/staging/sources.yml"] = f"version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables:\n{tables}\n"

    staging_yml = []
    for i in range(n_staging):
        src = i % n_sources
        domain = i % 40
        files[f"models/staging/domain_{domain}/stg_model_{i}.sql"] = (
            f"select id, updated_at, amount, cast(updated_at as date) as event_date\n"
            f"from {{{{ source('raw', 'table_{src}') }}}}\n"
        )
        staging_yml.append(
            f"  - name: stg_model_{i}\n    description: Staging view {i} over raw.table_{src}.\n"
            f"    config:\n      tags: [domain_{domain}, staging]\n"
            f"    columns:\n      - name: id\n        data_tests: [unique, not_null]\n"
        )
    for domain in range(min(40, n_staging)):
        part = [y for j, y in enumerate(staging_yml) if j % 40 == domain]
        files[f"models/staging/domain_{domain}/schema.yml"] = "version: 2\nmodels:\n" + "".join(part)

    for i in range(n_int):
        refs = sorted({rng.randrange(n_staging) for _ in range(rng.randint(1, 3))})
        union = "\nunion all\n".join(f"select id, updated_at, amount, event_date from {{{{ ref('stg_model_{r}') }}}}"
                                     for r in refs)
        files[f"models/intermediate/int_model_{i}.sql"] = union + "\n"

    marts_yml = []
    for i in range(n_marts):
        upstream = [f"stg_model_{rng.randrange(n_staging)}"]
        if rng.random() < 0.7:
            upstream.append(f"int_model_{rng.randrange(n_int)}")
        if i > 10 and rng.random() < 0.4:
            upstream.append(f"fct_model_{rng.randrange(max(1, i - 50), i)}")
        upstream = list(dict.fromkeys(upstream))
        incremental = i % 3 == 0
        config = "{{ config(materialized='incremental', unique_key='id') }}\n" if incremental else ""
        body = "\nunion all\n".join(f"select id, updated_at, amount, event_date from {{{{ ref('{u}') }}}}"
                                    for u in upstream)
        files[f"models/marts/area_{i % 25}/fct_model_{i}.sql"] = config + body + "\n"
        hourly = i % 10 == 0 and not warehouse
        meta = [f"schedule: {'hourly' if hourly else 'daily'}", f"sla_hours: {1 if hourly else 6}",
                f"owner: team_{i % 12}@example.com"]
        if i % 2 == 0:
            meta += [f"freshness_hours: {3 if hourly else 30}", "freshness_column: updated_at"]
        if incremental and not warehouse:
            meta += ["partition_by: {field: event_date, data_type: date, granularity: day}",
                     "partition_start: '2026-01-01'"]
        if i % 50 == 0:
            meta.append("critical: true")
        tests = "        data_tests: [not_null]\n"
        if i % 5 == 0:
            tests = (f"        data_tests:\n          - not_null\n          - relationships:\n"
                     f"              arguments:\n                to: ref('{upstream[0]}')\n"
                     f"                field: id\n")
        marts_yml.append(
            f"  - name: fct_model_{i}\n    description: Mart {i}.\n    config:\n"
            f"      tags: [area_{i % 25}, {'hourly' if hourly else 'daily'}]\n      meta:\n"
            + "".join(f"        {m}\n" for m in meta)
            + "    columns:\n      - name: id\n" + tests
            + "      - name: updated_at\n      - name: amount\n      - name: event_date\n"
        )
    for area in range(min(25, n_marts)):
        part = [y for j, y in enumerate(marts_yml) if j % 25 == area]
        files[f"models/marts/area_{area}/schema.yml"] = "version: 2\nmodels:\n" + "".join(part)
    return files


def manifest_for(n: int, cache: str, dbt: str) -> str:
    """The manifest of the N-model project, made by `dbt parse` once and cached."""
    files = project_files(n)
    digest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:12]
    folder = os.path.join(os.path.abspath(cache), f"dbt_{n}_{GENERATOR_VERSION}_{digest}")
    manifest = os.path.join(folder, "target", "manifest.json")
    if os.path.exists(manifest):
        return manifest
    shutil.rmtree(folder, ignore_errors=True)
    for path, text in files.items():
        full = os.path.join(folder, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as fh:
            fh.write(text)
    print(f"bench: dbt parse of the generated {n}-model project (cached for later runs) ...", file=sys.stderr,
          flush=True)
    subprocess.run([dbt, "parse", "--quiet", "--no-partial-parse", "--project-dir", folder,
                    "--profiles-dir", folder], check=True, cwd=folder,
                   env=dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false"))
    return manifest


if __name__ == "__main__":
    print(manifest_for(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "dbt"))
