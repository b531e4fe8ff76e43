"""orch's built-in backends. Each registers under the `orch.backends` entry points."""
