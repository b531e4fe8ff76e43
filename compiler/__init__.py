"""orch: a compiler from dbt, SQLMesh and .orch specs to orchestration code."""

__version__ = "0.1.0"
