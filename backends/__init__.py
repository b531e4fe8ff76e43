"""orch's built-in backends. Each registers under the `orch.backends` entry points."""

from __future__ import annotations

import os

from orch.compiler.plugin import ALERTING_SOURCE, OutputFile, format_python, python_header

ALERTS_MODULE = "orch_alerts"


def runtime_files(prefix: str, support_path: str, source: str) -> list[OutputFile]:
    """A backend's support module and the shared alerting module, to write beside its output.

    Generated code must run where orch is not installed, so these travel with
    it; the alert sender is the one source of alerting for every backend and the monitors.
    """
    files = []
    for path, name in ((support_path, os.path.basename(support_path)), (ALERTING_SOURCE, f"{ALERTS_MODULE}.py")):
        with open(path, encoding="utf-8") as fh:
            files.append(OutputFile(path=f"{prefix}{name}", content=format_python(python_header(source) + fh.read())))
    return files
