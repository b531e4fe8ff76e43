import os

if os.environ.get("ORCH_TEST_BREAK_PLUGIN"):
    raise ImportError("this plugin needs a library that is not installed")

from orch.compiler.plugin import Backend


class Broken(Backend):
    name = "broken"


class NotABackend:
    name = "notabackend"
