"""The `ir` backend: the checked IR as JSON, for tools and for reviewing changes."""

from __future__ import annotations

from orch.compiler.plugin import Backend, OutputFile, ir, json_lines_document, serde


class IrBackend(Backend):
    name = "ir"
    description = "the pipeline IR as JSON (project.ir.json)"
    SUPPORTS_PARTITIONS = True
    SUPPORTS_SLA = True
    SUPPORTS_FRESHNESS = True
    SUPPORTS_CHECKS = True
    SUPPORTS_CROSS_PIPELINE = True

    def emit(self, project: ir.Project, source: str) -> list[OutputFile]:
        return [OutputFile(path="project.ir.json", content=json_lines_document(serde.to_dict(project), source))]
