"""Runtime of `orch health` and `orch sla`: warehouse checks, history and alerts."""
