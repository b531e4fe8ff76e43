"""The contract every backend keeps, run against each one the entry-point registry
lists, and against a third-party plugin installed with pip as a user would.

A backend declares what it can express (SUPPORTS_*); a feature it declares it
cannot express is marked `not_supported` below, and must then be reported as
W062 rather than silently dropped.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from orch.compiler import backend, codegen, ir
from orch.compiler.diagnostics import Code
from orch.compiler.driver import BuildOptions, build
from tests.conftest import ROOT

PLUGIN = "assetlist"
BACKENDS = [*backend.available(), PLUGIN]

#: Capability flag -> what it covers in the example project, and the words of its W062.
FEATURES = {
    "SUPPORTS_PARTITIONS": (lambda p: any(a.partitioning for a in p.assets), "the partitioning of"),
    "SUPPORTS_SLA": (lambda p: any(a.sla for a in p.assets), "the completion SLA of"),
    "SUPPORTS_FRESHNESS": (lambda p: any(a.freshness and a.runner for a in p.assets), "the freshness target of"),
    "SUPPORTS_CHECKS": (lambda p: bool(p.checks), "the check "),
    "SUPPORTS_CROSS_PIPELINE": (lambda p: len(p.pipelines) > 1, "waits for"),
}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """The example plugin installed into a folder of its own and put on the import path."""
    site = tmp_path_factory.mktemp("conformance-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(site),
                    str(ROOT / "tests" / "plugins" / "orch-backend-assetlist")], check=True, timeout=300)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    yield site
    sys.path.remove(str(site))
    importlib.invalidate_caches()


@pytest.fixture(params=BACKENDS)
def backend_cls(request):
    if request.param == PLUGIN:
        request.getfixturevalue("plugin_site")
    return backend.load(request.param)


@pytest.fixture(scope="module")
def example(example_manifest) -> ir.Project:
    project, diagnostics = build([str(example_manifest)], BuildOptions())
    assert not [d for d in diagnostics if d.is_error]
    return project


def _instance(cls: type[backend.Backend], tmp_path: Path) -> backend.Backend:
    # Options naming a file (a warehouse to monitor) are the only ones without a usable default.
    return cls({key: str(tmp_path / "warehouse.duckdb") for key in cls.OPTIONS if key.endswith("_path")})


def test_it_is_a_backend_under_its_registered_name(backend_cls):
    assert issubclass(backend_cls, backend.Backend)
    assert backend_cls.name in BACKENDS and backend_cls.description
    caps = backend_cls.capabilities()
    assert {f"runs_{backend.ir_tag(r)}" for r in backend_cls.RUNNERS} <= {k for k, v in caps.items() if v}


def test_every_option_has_a_default(backend_cls):
    instance = backend_cls({})
    for key, default in backend_cls.OPTIONS.items():
        assert isinstance(default, str) and instance.option(key) == default


def test_output_is_deterministic_relative_and_owned(backend_cls, example, tmp_path):
    instance = _instance(backend_cls, tmp_path)
    first = instance.emit(example, "manifest.json")
    again = _instance(backend_cls, tmp_path).emit(example, "manifest.json")
    assert first and [(f.path, f.content) for f in first] == [(f.path, f.content) for f in again]
    paths = [f.path for f in first]
    assert len(set(paths)) == len(paths)
    for path in paths:
        assert not Path(path).is_absolute() and ".." not in Path(path).parts, path
    out = tmp_path / "out" / backend_cls.name
    assert sorted(codegen.write_tree(str(out), first).writes) == sorted(paths)
    again = codegen.write_tree(str(out), first)
    assert not again.changed and sorted(again.unchanged) == sorted(paths)
    # Every file carries orch's mark: a compile that no longer makes one removes it, as
    # it never would remove a file of the user's.
    assert codegen.write_tree(str(out), first[1:]).removes == (paths[0],)


@pytest.mark.parametrize("flag", sorted(FEATURES))
def test_what_it_cannot_express_is_a_warning(flag, backend_cls, example, tmp_path, request):
    present, words = FEATURES[flag]
    assert present(example), f"the example project has no {flag}"
    warned = [d for d in _instance(backend_cls, tmp_path).unsupported(example)
              if d.code is Code.UNSUPPORTED_BY_BACKEND and words in d.message
              and f"backend {backend_cls.name!r} cannot express" in d.message]
    if getattr(backend_cls, flag):
        assert warned == []
        return
    request.node.add_marker(pytest.mark.not_supported)
    if flag in backend_cls.OUT_OF_SCOPE:
        assert warned == [], f"{backend_cls.name} declares {flag} none of its business, yet warns"
    else:
        assert warned, f"{backend_cls.name} lacks {flag} and says nothing"
        assert all(d.span.path or d.span.unique_id for d in warned)


def test_a_runner_it_cannot_run_is_an_error(backend_cls, example, tmp_path):
    """Every asset a backend that runs things cannot run is an error; one that runs
    nothing (a config, a listing) refuses none."""
    found = [d for d in _instance(backend_cls, tmp_path).unsupported(example) if d.code is Code.BACKEND_CANNOT_RUN]
    cannot = [a.origin for a in example.assets if backend_cls.RUNNERS and a.runner is not None
              and not isinstance(a.runner, backend_cls.RUNNERS)]
    assert [d.span for d in found] == cannot


def test_output_it_says_it_reads_back_loads_in_its_platform(backend_cls, example, tmp_path):
    """`orch diff` compares any two backends that read their output back."""
    from orch.compiler import parity

    out = tmp_path / "out"
    codegen.write_tree(str(out), _instance(backend_cls, tmp_path).emit(example, "manifest.json"))
    if not backend_cls.READS_BACK:
        with pytest.raises(NotImplementedError):
            backend_cls.read_back(str(out))
        return
    side = parity.read(backend_cls.name, str(out))
    assert side["problems"] == []
    assert set(side["assets"]) == {a.key for a in example.assets if a.runner is not None}
