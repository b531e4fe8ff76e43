"""Black's layout for generated code, without running black over all of it.

Generated files are mostly data: thousands of statements like
`x = Operator(task_id="a", deps=[...])`. Running black over them costs
seconds per thousand assets. This module lays such statements out directly,
in a form black leaves unchanged: a call or literal that fits on its line
stays on it; one that does not is exploded one element per line with a
trailing comma, which black keeps (its "magic trailing comma"). Strings get
black's quote preference.

`format_python` parses the module once, lays out every statement and
decorator made only of calls, names, literals and `>>` chains, stands a
placeholder in for each run of them, runs black over the small skeleton left
(cached), and puts the laid-out text back. Anything else goes through black
as written. The test suite checks that black leaves every generated file as
it is.
"""

from __future__ import annotations

import ast
import re

LINE_LENGTH = 100
INDENT = "    "
_PLACEHOLDER = "__orch_block_{}__"
_PLACEHOLDER_RE = re.compile(r"^(\s*)(@?)__orch_block_(\d+)__$")


class Unsupported(Exception):
    """A construct this layout does not handle: black formats it instead."""


# -- the layout tree ------------------------------------------------------------
# A node is a str (an atom, already one line) or a tuple:
#   ("call", func, items)        func(items)
#   ("seq", open, close, items)  [items] / {items} / (items)
# and items are nodes, ("kw", name, node), ("pair", key, node) or ("star", prefix, node).


def pystr(value: str) -> str:
    """A string literal as black writes it: double quotes unless that means more escapes."""
    text = repr(value)
    if text[0] == '"':
        return text  # repr picked double quotes: the string has ' and no "
    if '"' not in value:
        return '"' + text[1:-1] + '"'
    return _black_quotes(text)


def _black_quotes(text: str) -> str:
    """Both quote kinds inside: black's own rule decides, by counting escapes."""
    from black.strings import normalize_string_quotes

    return normalize_string_quotes(text)


_FLAT: dict[int, tuple[object, str]] = {}


def flat(node) -> str:
    """`node` as one line of Python source."""
    try:
        return _flat(node)
    finally:
        _FLAT.clear()


def _flat(node) -> str:
    if isinstance(node, str):
        return node
    hit = _FLAT.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    text = _flat_uncached(node)
    _FLAT[id(node)] = (node, text)
    return text


def _flat_uncached(node) -> str:
    kind = node[0]
    if kind == "call":
        return f"{node[1]}({', '.join(_flat_item(i) for i in node[2])})"
    if kind == "seq":
        _, open_, close, items = node
        inner = ", ".join(_flat_item(i) for i in items)
        if open_ == "(" and len(items) == 1:
            inner += ","
        return f"{open_}{inner}{close}"
    raise AssertionError(node)


def _flat_item(item) -> str:
    if isinstance(item, tuple) and item[0] == "kw":
        return f"{item[1]}={_flat(item[2])}"
    if isinstance(item, tuple) and item[0] == "pair":
        return f"{_flat(item[1])}: {_flat(item[2])}"
    if isinstance(item, tuple) and item[0] == "star":
        return f"{item[1]}{_flat(item[2])}"
    return _flat(item)


def render(node, indent: str, head: str = "", tail: str = "") -> list[str]:
    """The lines of `head + node + tail` at `indent`, as black leaves them."""
    try:
        return _render(node, indent, head, tail)
    finally:
        _FLAT.clear()


def _render(node, indent: str, head: str = "", tail: str = "") -> list[str]:
    flat = f"{indent}{head}{_flat(node)}{tail}"
    if len(flat) <= LINE_LENGTH or isinstance(node, str):
        return [flat]
    if node[0] == "call":
        if "(" in node[1]:
            raise Unsupported("a long method chain")  # black splits chains its own way
        opener, items, closer = f"{node[1]}(", node[2], ")"
    else:
        opener, items, closer = node[1], node[3], node[2]
        if opener == "(" and len(items) == 1:
            raise Unsupported("a long one-element tuple")
    if not items:
        return [flat]
    inner = indent + INDENT
    lines = [f"{indent}{head}{opener}"]
    for item in items:
        if isinstance(item, tuple) and item[0] == "kw":
            lines += _render(item[2], inner, f"{item[1]}=", ",")
        elif isinstance(item, tuple) and item[0] == "pair":
            lines += _render(item[2], inner, f"{_flat(item[1])}: ", ",")
        elif isinstance(item, tuple) and item[0] == "star":
            lines += _render(item[2], inner, item[1], ",")
        else:
            lines += _render(item, inner, "", ",")
    lines.append(f"{indent}{closer}{tail}")
    return lines


# -- from Python's AST ------------------------------------------------------------


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Call):  # a method chain: laid out only when it fits (see render)
            return f"{_flat(to_node(node.value))}.{node.attr}"
        return f"{_dotted(node.value)}.{node.attr}"
    raise Unsupported(type(node).__name__)


#: Nodes a backend built itself, standing in the source as a Name (see `node_name`).
_PREBUILT: dict[str, object] = {}


def to_node(node: ast.expr):
    if isinstance(node, ast.Name) and node.id in _PREBUILT:
        return _PREBUILT[node.id]
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str):
            return pystr(value)
        if value is None or isinstance(value, bool | int):
            return repr(value)
        if isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
            return repr(value)
        raise Unsupported(repr(value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, int | float) and not isinstance(node.operand.value, bool):
        return "-" + to_node(node.operand)
    if isinstance(node, ast.Name | ast.Attribute):
        return _dotted(node)
    if isinstance(node, ast.Call):
        items = [("star", "*", to_node(a.value)) if isinstance(a, ast.Starred) else to_node(a) for a in node.args]
        items += [("star", "**", to_node(k.value)) if k.arg is None else ("kw", k.arg, to_node(k.value))
                  for k in node.keywords]
        return ("call", _dotted(node.func), tuple(items))
    if isinstance(node, ast.List):
        return ("seq", "[", "]", tuple(to_node(e) for e in node.elts))
    if isinstance(node, ast.Tuple):
        if len(node.elts) == 1:
            raise Unsupported("one-element tuple")
        return ("seq", "(", ")", tuple(to_node(e) for e in node.elts))
    if isinstance(node, ast.Set):
        return ("seq", "{", "}", tuple(to_node(e) for e in node.elts))
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise Unsupported("dict unpacking")
        return ("seq", "{", "}", tuple(("pair", to_node(k), to_node(v)) for k, v in zip(node.keys, node.values)))
    raise Unsupported(type(node).__name__)


def _chain(node: ast.expr) -> list:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
        return [*_chain(node.left), *_chain(node.right)]
    return [to_node(node)]


def statement_lines(stmt: ast.stmt, indent: str) -> list[str]:
    """A simple statement laid out, or Unsupported."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return render(to_node(stmt.value), indent, f"{stmt.targets[0].id} = ")
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return render(to_node(stmt.value), indent)
    if isinstance(stmt, ast.Return) and stmt.value is not None and not isinstance(stmt.value, ast.Tuple):
        return render(to_node(stmt.value), indent, "return ")
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.BinOp) and isinstance(stmt.value.op, ast.RShift):
        chain = _chain(stmt.value)
        line = indent + " >> ".join(_flat(n) for n in chain)
        if len(line) <= LINE_LENGTH:
            return [line]
        return _long_edge(chain, indent)
    raise Unsupported(type(stmt).__name__)


def _long_edge(chain: list, indent: str) -> list[str]:
    """`[a, b] >> c` or `a >> [b, c]` past the line length, as black lays it out:
    the list exploded when the line holding its bracket and the other operand
    leaves black's margin of four columns; otherwise the whole chain in
    parentheses, one operand per line (a list too long for its line exploded
    inside). Shapes where a line would still not fit are left to black."""
    if len(chain) != 2:
        raise Unsupported("a long >> chain")
    left, right = chain
    inner = indent + INDENT

    def items(names, at):
        return [f"{at}{INDENT}{name}," for name in names]

    if isinstance(right, str) and _is_name_list(left):
        joint = f"{indent}] >> {right}"
        exploded = [f"{indent}[", *items(left[3], indent), joint]
    elif isinstance(left, str) and _is_name_list(right):
        joint = f"{indent}{left} >> ["
        exploded = [joint, *items(right[3], indent), f"{indent}]"]
    else:
        raise Unsupported("a long >> chain")
    if len(joint) <= LINE_LENGTH - 4:
        lines = exploded
    else:
        lines = [f"{indent}("]
        for operand, prefix in ((left, ""), (right, ">> ")):
            flat = f"{inner}{prefix}{_flat(operand)}"
            if len(flat) <= LINE_LENGTH or isinstance(operand, str):
                lines.append(flat)
            else:
                lines += [f"{inner}{prefix}[", *items(operand[3], inner), f"{inner}]"]
        lines.append(f"{indent})")
    if any(len(line) > LINE_LENGTH for line in lines):
        raise Unsupported("a >> chain with an operand longer than a line")
    return lines


def _is_name_list(node) -> bool:
    # One name alone is exploded without black's trailing comma: left to black.
    return isinstance(node, tuple) and node[:3] == ("seq", "[", "]") and len(node[3]) > 1 and all(
        isinstance(item, str) and item.isidentifier() for item in node[3])


# -- splicing -----------------------------------------------------------------------


def _own_lines(stmt: ast.AST, lines: list[str]) -> bool:
    """The node starts its first line and ends its last (no `;`, no trailing comment)."""
    first, last = lines[stmt.lineno - 1], lines[stmt.end_lineno - 1]
    return first[:stmt.col_offset].strip() in ("", "@") and not last[stmt.end_col_offset:].strip()


class Prebuilt:
    """Layout nodes a backend builds directly, to stand in its source by name:
    big literals then cost neither `ast.parse` nor a conversion."""

    def __init__(self):
        self.nodes: dict[str, object] = {}

    def name(self, node) -> str:
        name = f"__orch_node_{len(self.nodes)}__"
        self.nodes[name] = node
        return name


def lit(value):
    """A layout node for a Python value: str, int, float, bool, None, list, tuple, dict, set."""
    if isinstance(value, str):
        return pystr(value)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, list):
        return ("seq", "[", "]", tuple(lit(v) for v in value))
    if isinstance(value, tuple):
        return ("seq", "(", ")", tuple(lit(v) for v in value))
    if isinstance(value, dict):
        return ("seq", "{", "}", tuple(("pair", lit(k), lit(v)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return ("seq", "{", "}", tuple(lit(v) for v in sorted(value))) if value else "set()"
    raise Unsupported(type(value).__name__)


def call(func: str, *args, **kwargs):
    """A layout node for `func(*args, **kwargs)`; args and values are layout nodes."""
    return ("call", func, (*args, *(("kw", k, v) for k, v in kwargs.items())))


def split(source: str, prebuilt: Prebuilt | None = None) -> tuple[str, dict[int, list[str]]]:
    """(the skeleton for black, laid-out lines by placeholder number)."""
    _PREBUILT.clear()
    _PREBUILT.update(prebuilt.nodes if prebuilt else {})
    try:
        return _split(source)
    finally:
        _PREBUILT.clear()


def _split(source: str) -> tuple[str, dict[int, list[str]]]:
    tree = ast.parse(source)
    lines = source.split("\n")
    replace: list[tuple[int, int, str, list[str]]] = []  # (first line, last line, kind, laid-out lines)

    def visit(body: list[ast.stmt], indent: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                for dec in stmt.decorator_list:
                    if isinstance(dec, ast.Call) and _own_lines(dec, lines):
                        try:
                            laid = render(to_node(dec), indent, "@")
                        except Unsupported:
                            continue
                        replace.append((dec.lineno, dec.end_lineno, "@", laid))
                visit(stmt.body, indent + INDENT)
            elif isinstance(stmt, ast.With | ast.If | ast.For | ast.While | ast.Try):
                visit(stmt.body, indent + INDENT)
                visit(getattr(stmt, "orelse", []), indent + INDENT)
            elif _own_lines(stmt, lines):
                try:
                    laid = statement_lines(stmt, indent)
                except Unsupported:
                    continue
                replace.append((stmt.lineno, stmt.end_lineno, "", laid))

    visit(tree.body, "")
    # Adjacent statements (no blank line or comment between) share one placeholder.
    merged: list[list] = []
    for first, last, kind, laid in sorted(replace):
        if merged and not kind and not merged[-1][2] and merged[-1][1] + 1 == first:
            merged[-1][1] = last
            merged[-1][3].extend(laid)  # in place: a run can be thousands of statements
        else:
            merged.append([first, last, kind, list(laid)])
    blocks: dict[int, list[str]] = {}
    out: list[str] = []
    cursor = 1
    for number, (first, last, kind, laid) in enumerate(merged):
        out.extend(lines[cursor - 1:first - 1])
        indent = re.match(r"\s*", lines[first - 1]).group(0)
        out.append(f"{indent}{kind}{_PLACEHOLDER.format(number)}")
        blocks[number] = laid
        cursor = last + 1
    out.extend(lines[cursor - 1:])
    return "\n".join(out), blocks


def splice(skeleton: str, blocks: dict[int, list[str]]) -> str:
    out = []
    for line in skeleton.split("\n"):
        m = _PLACEHOLDER_RE.match(line)
        if m is None:
            out.append(line)
            continue
        laid = blocks[int(m.group(3))]
        # Black may have moved the block (never re-indented it: placeholders keep their nesting).
        old = re.match(r"\s*", laid[0]).group(0)
        if old != m.group(1):
            laid = [m.group(1) + x[len(old):] if x.startswith(old) else x for x in laid]
        out.extend(laid)
    return "\n".join(out)
