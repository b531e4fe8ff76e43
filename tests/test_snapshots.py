"""Golden IR JSON for real manifests of different schema versions.

A snapshot diff is a behaviour change: review it like code, and update with
`python3 dev.py test tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from orch.compiler import serde
from orch.compiler.driver import BuildOptions, build
from tests.conftest import ROOT, corpus

MANIFESTS = [
    "dbt-core_state_v7",  # v7, dbt 1.3
    "cosmos_manifest_model_version",  # v10, dbt 1.6, versioned models
    "dbt-artifacts-parser_v11_jaffle_shop",  # v11, dbt 1.7, incremental models
    "cosmos_altered_jaffle_shop",  # v12, dbt 1.11, sources, exposure, ephemeral model
]


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("name", MANIFESTS)
def test_ir_snapshot(name, snapshot_json, monkeypatch):
    # Paths in the IR are as given; relative ones keep the snapshot machine-independent.
    monkeypatch.chdir(ROOT)
    project, _ = build([str(corpus(name).relative_to(ROOT))], BuildOptions())
    assert serde.to_dict(project) == snapshot_json
