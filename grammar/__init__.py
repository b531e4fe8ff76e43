"""The .orch spec language grammar, shipped as package data (`orch.lark`)."""
