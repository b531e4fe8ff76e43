"""What the compiler, the code it generates and the monitors share.

Leaf modules, each importing nothing else of orch: the monitors import only
these from the compiler (pyproject.toml's import-linter contracts hold both
rules), and the backends copy `alerting.py` beside generated code, which runs
where orch is not installed.

- `checksql`: the SQL of the health checks, one builder for every place they run.
- `look`: the stylesheet and palette of orch's HTML pages.
- `alerting`: the alert channels (Slack, PagerDuty, email, webhooks).
"""
