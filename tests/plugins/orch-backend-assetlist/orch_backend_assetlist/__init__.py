"""A third-party backend, written only against orch's plugin API (orch.compiler.plugin)."""

from orch.compiler.plugin import Backend, OutputFile, header_text


class AssetListBackend(Backend):
    name = "assetlist"
    description = "one line per scheduled asset: pipeline, schedule, asset"
    SUPPORTS_CHECKS = True

    def emit(self, project, source):
        lines = [f"# {header_text(source)}"]
        for pipeline in project.pipelines:
            lines += [f"{pipeline.name}\t{pipeline.schedule.cron}\t{key}" for key in pipeline.assets]
        return [OutputFile(path="assets.tsv", content="\n".join(lines) + "\n")]
