"""The plugin API: everything a backend may import from orch, and nothing else.

A backend, built in or installed under the `orch.backends` entry points,
imports orch only through this module (pyproject.toml's import-linter
contracts hold the built-in ones to it). What is named here keeps its meaning
across minor releases; the rest of the compiler may move. docs/backends.md,
"Writing a backend", says what each name is for.
"""

from __future__ import annotations

import os

from orch.compiler import ir, pyfmt, selection, serde, sqlgen
from orch.compiler.backend import Backend, OutputFile
from orch.compiler.cadence import normalized_cron, timezone_name
from orch.compiler.codegen import (
    format_python,
    header_text,
    in_project,
    json_document,
    json_lines_document,
    project_dir_lines,
    project_dir_variables,
    python_header,
)
from orch.compiler.diagnostics import Code, CompileError, Diagnostic, error, warning
from orch.compiler.durations import format_duration
from orch.compiler.grouping import schedule_label, slug, tests_of_several, upstream_pipelines
from orch.compiler.names import NameScope, unique
from orch.compiler.shared.checksql import DEFAULT_LOOKBACK_DAYS

#: The alert sender (standard library only) that generated code imports as a
#: module of its own, the one the monitors send through: copy it beside the output.
ALERTING_SOURCE = os.path.join(os.path.dirname(__file__), "shared", "alerting.py")

__all__ = [
    "ALERTING_SOURCE",
    "DEFAULT_LOOKBACK_DAYS",
    "Backend",
    "Code",
    "CompileError",
    "Diagnostic",
    "NameScope",
    "OutputFile",
    "error",
    "format_duration",
    "format_python",
    "header_text",
    "in_project",
    "ir",
    "json_document",
    "json_lines_document",
    "normalized_cron",
    "project_dir_lines",
    "project_dir_variables",
    "pyfmt",
    "python_header",
    "schedule_label",
    "selection",
    "serde",
    "slug",
    "sqlgen",
    "tests_of_several",
    "timezone_name",
    "unique",
    "upstream_pipelines",
    "warning",
]
