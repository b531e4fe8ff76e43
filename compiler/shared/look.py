"""The one look of orch's HTML pages: the SLA and health reports and `orch graph`.

Plain data (a stylesheet and a palette), so the monitors can share it without
depending on anything else in the compiler.
"""

from __future__ import annotations

#: Layer -> colour, in the order a pipeline usually flows.
LAYER_COLORS = {
    "sources": "#9aa5b1",
    "seeds": "#b39ddb",
    "staging": "#64b5f6",
    "intermediate": "#4db6ac",
    "marts": "#3b6fd8",
    "snapshots": "#f0b429",
    "models": "#7b93db",
    "tasks": "#e57373",
    "exposures": "#52606d",
}
OTHER_COLOR = "#a0aec0"
CRITICAL = "#c53030"
CROSS_PIPELINE = "#dd6b20"

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2933;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e4e7eb}
th{background:#f5f7fa}code{font-size:.9em}
.pass{color:#1b7f3b}.warn{color:#b7791f}.fail,.error{color:#c53030;font-weight:600}
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;background:#f5f7fa}
.badge.critical{background:#fde8e8;color:#c53030}
svg.trend{width:100%;max-width:760px;height:auto}svg .grid{stroke:#e4e7eb}svg .line{fill:none;stroke:#3b6fd8;stroke-width:2}
svg .point{fill:#3b6fd8}svg text{font-size:11px;fill:#52606d}
input[type=search]{font:inherit;padding:.3rem .5rem;border:1px solid #cbd2d9;border-radius:.3rem;min-width:18rem}
.legend span{display:inline-block;margin-right:.8rem}.legend i{display:inline-block;width:.8rem;height:.8rem;
border-radius:.2rem;margin-right:.3rem;vertical-align:-.1rem}
"""
