"""The layers of the code hold: import-linter checks the contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import tomllib

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
