"""The layers of the code hold: import-linter checks the contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import tomllib

import pytest

from tests.conftest import BIN, ROOT


def _lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "lint-imports"), "--no-cache", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def test_every_layer_contract_is_kept():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    result = _lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout


def test_a_broken_layer_fails_the_check(tmp_path):
    """The check is real: the CLI hands `orch health` to the monitor, and without the
    contract's ignore that is reported."""
    config = tmp_path / "layers.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["orch.compiler", "orch.backends", "orch.monitor", "orch.grammar"]\n'
        "include_external_packages = true\n\n[[tool.importlinter.contracts]]\n"
        'name = "no monitor"\ntype = "forbidden"\nsource_modules = ["orch.compiler"]\nforbidden_modules = ["orch.monitor"]\n'
    )
    result = _lint("--config", str(config))
    assert result.returncode == 1
    assert "orch.compiler.cli -> orch.monitor.cli" in result.stdout and "Contracts: 0 kept, 1 broken." in result.stdout


def _compiler_modules() -> set[str]:
    folder = ROOT / "compiler"
    return ({f"orch.compiler.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__"}
            | {f"orch.compiler.{p.parent.name}" for p in folder.glob("*/__init__.py")})


@pytest.mark.parametrize(("source", "allowed"), [
    ("orch.backends", "orch.compiler.plugin"),
    ("orch.monitor", "orch.compiler.shared"),
    ("orch.compiler.shared", "orch.compiler.shared"),
])
def test_a_layer_that_may_use_one_module_of_the_compiler_is_forbidden_every_other(source, allowed):
    """The lists in pyproject.toml name each module of the compiler: a new module is
    forbidden to the backends and the monitor until it is listed here or there."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    forbidden = set()
    for contract in contracts:
        if contract["source_modules"] == [source]:
            forbidden |= set(contract["forbidden_modules"])
    assert forbidden >= _compiler_modules() - {allowed}, sorted(_compiler_modules() - {allowed} - forbidden)
    assert allowed not in forbidden
