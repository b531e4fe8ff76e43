"""The .orch language's syntax: parsing with positions and comments, and `orch fmt`.

The parser turns text into a small tree of our own (`Spec`, `Block`,
`Attribute`, `Include`, `Value`) that remembers where everything is and which
comments sit where, so that diagnostics can point at a caret and `orch fmt`
can reprint a spec without losing a comment. What the blocks mean is
`compiler/frontends/dsl.py`'s business.
"""

from __future__ import annotations

import bisect
import functools
import json
import os
import threading
from collections.abc import Iterable

import attrs
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from orch.compiler import ir
from orch.compiler.diagnostics import Code, CompileError, error

INDENT = "  "
WIDTH = 100


@attrs.define(eq=False, kw_only=True)
class _Node:
    """Where a node starts and ends in the text, and the comments fmt puts back around it."""

    line: int
    col: int
    end_line: int = 0
    end_col: int = 0
    comments: list[str] = attrs.Factory(list)
    trailing: str | None = None
    blank_before: bool = False


@attrs.define(eq=False, kw_only=True)
class Value(_Node):
    """A literal: `kind` is string, long_string, number, duration, word or list."""

    kind: str
    value: object
    text: str = ""
    end_comments: list[str] = attrs.Factory(list)

    def describe(self) -> str:
        return {"long_string": "a string", "string": "a string", "number": "a number", "duration": "a duration",
                "word": f"the word {self.text}", "list": "a list"}[self.kind]


@attrs.define(eq=False, kw_only=True)
class Attribute(_Node):
    name: str
    value: Value


@attrs.define(eq=False, kw_only=True)
class Block(_Node):
    type: str
    labels: list[Value]
    members: list[Attribute | Block]
    header_line: int = 0
    header_end_col: int = 0
    close_trailing: str | None = None
    end_comments: list[str] = attrs.Factory(list)

    def attributes(self) -> Iterable[Attribute]:
        return (m for m in self.members if isinstance(m, Attribute))

    def blocks(self) -> Iterable[Block]:
        return (m for m in self.members if isinstance(m, Block))


@attrs.define(eq=False, kw_only=True)
class Include(_Node):
    path: Value


@attrs.define(eq=False)
class Spec:
    path: str
    text: str
    items: list[Include | Block]
    end_comments: list[str] = attrs.Factory(list)

    def where(self, line: int | None, col: int | None = None) -> ir.Location:
        return ir.Location(path=self.path, line=line, col=col)


# The lexer hands comments to a callback fixed when the parser is built; each
# thread collects its own.
_collected = threading.local()


def _comment(token: Token) -> Token:
    _collected.comments.append(token)
    return token


@functools.cache
def _parser() -> Lark:
    return Lark.open_from_package("orch.grammar", "orch.lark", ("",), parser="lalr", propagate_positions=True,
                                  maybe_placeholders=False, lexer_callbacks={"COMMENT": _comment})


_TOKEN_NAMES = {
    "NAME": "a name",
    "STRING": "a quoted string",
    "LONG_STRING": "a quoted string",
    "NUMBER": "a number",
    "DURATION": "a duration such as 90m",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "INCLUDE": "include",
    "$END": "the end of the file",
}


def excerpt(text: str, line: int | None, col: int | None) -> str:
    """The source line at `line` with a caret under `col`, for a diagnostic."""
    if not line:
        return ""
    lines = text.split("\n")  # lark counts lines by \n alone
    if not 1 <= line <= len(lines):
        return ""
    source = lines[line - 1].expandtabs(1)
    gutter = f"{line:>4} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * max((col or 1) - 1, 0) + "^"
    return f"\n{gutter}{source}\n{caret}"


def _expected(names: Iterable[str]) -> str:
    found = sorted({_TOKEN_NAMES.get(n, n.lower()) for n in names if not n.startswith("__")})
    if not found:
        return ""
    if len(found) == 1:
        return f"; expected {found[0]}"
    return "; expected " + ", ".join(found[:-1]) + f" or {found[-1]}"


def _syntax_error(path: str, text: str, exc: UnexpectedInput) -> CompileError:
    line, col = getattr(exc, "line", None), getattr(exc, "column", None)
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else ""
        if char == '"':
            what = "an unterminated string"
        else:
            what = f"unexpected character {char!r}"
        message = what + _expected(exc.allowed or ())
    elif isinstance(exc, UnexpectedEOF):
        lines = text.rstrip("\n").split("\n")
        line, col = len(lines), len(lines[-1]) + 1
        message = "unexpected end of file" + _expected(exc.expected)
    elif isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            lines = text.rstrip("\n").split("\n")
            line, col = len(lines), len(lines[-1]) + 1
            message = "unexpected end of file"
        else:
            message = f"unexpected {_TOKEN_NAMES.get(token.type, repr(str(token)))}"
            if token.type in ("NAME", "STRING", "NUMBER", "DURATION"):
                message += f" {str(token)[:40]!r}"
        message += _expected(exc.expected)
    else:  # pragma: no cover - lark raises only the three above from parse()
        message = str(exc).splitlines()[0]
    return CompileError(error(Code.SPEC_SYNTAX, message + excerpt(text, line, col),
                              ir.Location(path=path, line=line, col=col)))


def unquote(token: str) -> str:
    return json.loads(token)


def quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def parse(text: str, path: str) -> Spec:
    """Parse one spec's text; raises `CompileError` with file:line:col on bad syntax."""
    _collected.comments = []
    try:
        tree = _parser().parse(text)
        spec = Spec(path=path, text=text, items=[_item(child, path, text) for child in tree.children])
    except UnexpectedInput as exc:
        raise _syntax_error(path, text, exc) from None
    except RecursionError:
        line, col = _deepest_bracket(text)
        raise CompileError(error(Code.SPEC_SYNTAX, "lists nested too deeply" + excerpt(text, line, col),
                                 ir.Location(path=path, line=line, col=col))) from None
    finally:
        comments, _collected.comments = _collected.comments, []
    _attach_comments(spec, comments)
    return spec


def _deepest_bracket(text: str, limit: int = 50) -> tuple[int, int]:
    """Where `[` first opens past `limit` levels (strings skipped roughly); the
    position of a nesting too deep for the parser to build."""
    depth, line, col, quoted = 0, 1, 0, False
    for ch in text:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "[":
            depth += 1
            if depth > limit:
                return line, col
        elif not quoted and ch == "]":
            depth -= 1
    return 1, 1


def _value(tree: Tree | Token, path: str, text: str) -> Value:
    kind = tree.data
    if kind == "list":
        items = [_value(child, path, text) for child in tree.children]
        meta = tree.meta
        return Value(kind="list", value=items, line=meta.line, col=meta.column, end_line=meta.end_line,
                     end_col=meta.end_column)
    token = tree.children[0]
    if kind == "string":
        try:
            value: object = unquote(str(token))
        except json.JSONDecodeError as exc:
            col = token.column + exc.pos
            raise CompileError(error(Code.SPEC_SYNTAX, f"bad escape in string: {exc.msg}" + excerpt(text, token.line, col),
                                     ir.Location(path=path, line=token.line, col=col))) from None
    elif kind == "long_string":
        value = str(token)[3:-3]
    elif kind == "number":
        value = float(token) if "." in token else int(token)
    else:
        value = str(token)
    return Value(kind=kind, value=value, line=token.line, col=token.column, text=str(token),
                 end_line=token.end_line, end_col=token.end_column)


def _item(tree: Tree, path: str, text: str) -> Include | Block | Attribute:
    meta = tree.meta
    if tree.data == "include":
        value = _value(Tree("string", [tree.children[0]]), path, text)
        return Include(path=value, line=meta.line, col=meta.column, end_line=meta.end_line, end_col=meta.end_column)
    if tree.data == "attribute":
        name, value = tree.children
        return Attribute(name=str(name), value=_value(value, path, text), line=meta.line, col=meta.column,
                         end_line=meta.end_line, end_col=meta.end_column)
    name, *rest = tree.children
    labels, members = [], []
    header = name
    for child in rest:
        if isinstance(child, Token):
            labels.append(_value(Tree("string", [child]), path, text))
            header = child
        else:
            members.append(_item(child, path, text))
    return Block(type=str(name), labels=labels, members=members, line=meta.line, col=meta.column,
                 header_line=header.end_line, header_end_col=header.end_column, end_line=meta.end_line,
                 end_col=meta.end_column)


def _attach_comments(spec: Spec, comments: list[Token]) -> None:
    """Give each comment to the node it belongs to, so fmt puts it back there.

    A comment after code on the same line trails the outermost node that ends
    there; any other comment leads the next node, or closes its container.
    """
    if not comments:
        return
    starts: list[tuple[tuple[int, int], object, str]] = []   # (position, node, "start" | "close")
    ends: dict[int, list[tuple[int, object, str]]] = {}        # line -> (col, node, "trailing" | ...)

    def walk(node, container) -> None:
        starts.append(((node.line, node.col), node, "start"))
        if isinstance(node, Block):
            ends.setdefault(node.header_line, []).append((node.header_end_col, node, "trailing"))
            for member in node.members:
                walk(member, node)
            starts.append(((node.end_line, node.end_col - 1), node, "close"))
            ends.setdefault(node.end_line, []).append((node.end_col, node, "close_trailing"))
            return
        ends.setdefault(node.end_line, []).append((node.end_col, node, "trailing"))
        value = node.value if isinstance(node, Attribute) else node if isinstance(node, Value) else None
        if value is not None and value.kind == "list":
            for element in value.value:
                walk(element, value)
            starts.append(((value.end_line, value.end_col - 1), value, "close"))

    for item in spec.items:
        walk(item, spec)
    starts.sort(key=lambda s: s[0])
    positions = [s[0] for s in starts]
    for token in comments:
        text = str(token).rstrip()
        line, col = token.line, token.column
        before = [e for e in ends.get(line, ()) if e[0] <= col]
        if before:
            _, node, slot = max(before, key=lambda e: e[0])
            setattr(node, slot, text)
            continue
        i = bisect.bisect_left(positions, (line, col))
        if i == len(starts):
            spec.end_comments.append(text)
            continue
        _, node, kind = starts[i]
        (node.comments if kind == "start" else node.end_comments).append(text)


def _blank_lines(spec: Spec) -> None:
    """Mark nodes that followed a blank line in the source (kept, collapsed to one)."""
    lines = spec.text.split("\n")

    def blank_before(line: int) -> bool:
        return line >= 2 and not lines[line - 2].strip()

    def visit(members) -> None:
        for member in members:
            first = member.line - len(member.comments)
            member.blank_before = blank_before(first)
            if isinstance(member, Block):
                visit(member.members)

    visit(spec.items)


# --- orch fmt -------------------------------------------------------------------------------------


def format_spec(spec: Spec) -> str:
    """The canonical text of a spec: two-space indent, `=` aligned in runs of
    attributes, one blank line between top-level blocks, every comment kept."""
    _blank_lines(spec)
    out: list[str] = []
    previous = None
    for item in spec.items:
        if previous is not None and (isinstance(item, Block) or isinstance(previous, Block) or item.blank_before):
            out.append("")
        _comments(out, item.comments, 0)
        if isinstance(item, Include):
            out.append(_with_trailing(f"include {quote(item.path.value)}", item.trailing))
        else:
            _block(out, item, 0)
        previous = item
    if spec.end_comments:
        if out:
            out.append("")
        _comments(out, spec.end_comments, 0)
    return "\n".join(out) + "\n" if out else ""


def _comments(out: list[str], comments: list[str], depth: int) -> None:
    out.extend(INDENT * depth + c for c in comments)


def _with_trailing(line: str, trailing: str | None) -> str:
    return f"{line}  {trailing}" if trailing else line


def _block(out: list[str], block: Block, depth: int) -> None:
    pad = INDENT * depth
    head = " ".join([block.type, *(quote(label.value) for label in block.labels)])
    if not block.members and not block.end_comments and not block.trailing:
        out.append(_with_trailing(f"{pad}{head} {{}}", block.close_trailing))
        return
    out.append(_with_trailing(f"{pad}{head} {{", block.trailing))
    for i, member in enumerate(block.members):
        if isinstance(member, Block):
            if i:
                out.append("")
            _comments(out, member.comments, depth + 1)
            _block(out, member, depth + 1)
            continue
        previous = block.members[i - 1] if i else None
        if i and (member.blank_before or isinstance(previous, Block)):
            out.append("")
        width = max(len(a.name) for a in _run_of(block.members, i))
        _comments(out, member.comments, depth + 1)
        _attribute(out, member, depth + 1, width)
    if block.end_comments:
        _comments(out, block.end_comments, depth + 1)
    out.append(_with_trailing(f"{pad}}}", block.close_trailing))


def _run_of(members: list, i: int) -> list[Attribute]:
    """The run of attributes that member i's `=` is aligned with."""
    start = i
    while start > 0 and isinstance(members[start - 1], Attribute) and not members[start].blank_before:
        start -= 1
    end = i
    while end + 1 < len(members) and isinstance(members[end + 1], Attribute) and not members[end + 1].blank_before:
        end += 1
    return members[start:end + 1]


def _attribute(out: list[str], attr: Attribute, depth: int, width: int) -> None:
    lead = f"{INDENT * depth}{attr.name.ljust(width)} = "
    lines = _value_lines(attr.value, depth, len(lead))
    lines[0] = lead + lines[0]
    lines[-1] = _with_trailing(lines[-1], attr.trailing)
    out.extend(lines)


def _flat(value: Value) -> str | None:
    """The value on one line, or None when it must be spread over several."""
    if value.kind == "list":
        if value.end_comments or any(e.comments or e.trailing for e in value.value):
            return None
        parts = [_flat(e) for e in value.value]
        if any(p is None for p in parts):
            return None
        return "[" + ", ".join(parts) + "]"
    if value.kind == "string":
        return quote(value.value)
    if value.kind == "long_string":
        return None if "\n" in value.value else f'"""{value.value}"""'
    return value.text


def _value_lines(value: Value, depth: int, used: int) -> list[str]:
    flat = _flat(value)
    if flat is not None and used + len(flat) <= WIDTH:
        return [flat]
    if value.kind == "long_string":
        return f'"""{value.value}"""'.split("\n")
    if value.kind != "list":
        return [flat or value.text]
    inner = INDENT * (depth + 1)
    lines = ["["]
    for element in value.value:
        lines.extend(inner + c for c in element.comments)
        sub = _value_lines(element, depth + 1, len(inner))
        sub[0] = inner + sub[0]
        sub[-1] = _with_trailing(sub[-1] + ",", element.trailing)
        lines.extend(sub)
    lines.extend(inner + c for c in value.end_comments)
    lines.append(INDENT * depth + "]")
    return lines


# --- loading files --------------------------------------------------------------------------------


def read_spec(path: str, where: ir.Location | None = None) -> Spec:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise CompileError(error(Code.BAD_INCLUDE if where else Code.UNREADABLE_INPUT,
                                 f"cannot read {path}: no such file", where or ir.Location(path=path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CompileError(error(Code.BAD_INCLUDE if where else Code.UNREADABLE_INPUT,
                                 f"cannot read {path}: {reason}", where or ir.Location(path=path))) from None
    return parse(text, path)


def _include_error(message: str, where: ir.Location | None, text: str | None) -> CompileError:
    if where is not None and text is not None:
        message += excerpt(text, where.line, where.col)
    return CompileError(error(Code.BAD_INCLUDE, message, where))


def load(path: str) -> list[Spec]:
    """The spec at `path` and everything it includes, each file once, in include order."""
    specs: list[Spec] = []
    seen: set[str] = set()

    def visit(file: str, stack: tuple[str, ...], where: ir.Location | None, text: str | None) -> None:
        real = os.path.realpath(file)
        if real in stack:
            chain = " -> ".join(os.path.relpath(s) for s in (*stack, real))
            raise _include_error(f"include cycle: {chain}", where, text)
        if real in seen:
            return
        seen.add(real)
        try:
            spec = read_spec(file, where)
        except CompileError as exc:
            if where is None or exc.diagnostics[0].code is not Code.BAD_INCLUDE:
                raise
            raise _include_error(exc.diagnostics[0].message, where, text) from None
        specs.append(spec)
        for item in spec.items:
            if isinstance(item, Include):
                target = os.path.normpath(os.path.join(os.path.dirname(file), item.path.value))
                visit(target, (*stack, real), ir.Location(path=spec.path, line=item.path.line, col=item.path.col), spec.text)
    visit(path, (), None, None)
    return specs
