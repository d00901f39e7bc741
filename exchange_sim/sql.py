"""The Exchange 2003 WebDAV SEARCH SQL subset and the `Range: rows=` header, as pure functions.

Rule kept here: SQL text becomes a frozen `Query` or a `SqlError` that says where and what; nothing
else ever escapes `parse_sql` (no RecursionError, no hang: input length and nesting depth are
capped before any work grows with them). Evaluation (`matches`, `sort_rows`) never raises for any
item value: a comparison that cannot be made (missing property, types that do not coerce) is
simply false, and sorting orders mixed types by a fixed type rank. No I/O, no logging.

Grammar (keywords case-insensitive; reference protocol §5.1, davmail-client §4.1):

    query     := SELECT column {"," column} FROM source [WHERE or] [ORDER BY order {"," order}]
    column    := "prop" [AS alias]                       alias: a word or a "quoted" name
    source    := "path" | SCOPE "(" 'SHALLOW|DEEP|HIERARCHICAL TRAVERSAL OF "path"' ")"
    or        := and {OR and}
    and       := not {AND not}
    not       := NOT not | "(" or ")" | predicate
    predicate := operand (cmp operand | IS [NOT] NULL | [NOT] LIKE 'pattern')
    operand   := "prop" | 'string' | number | TRUE | FALSE | CAST "(" "value" AS 'type' ")"
    cmp       := = | != | <> | < | <= | > | >=

Evaluation is two-valued, not SQL's three-valued logic: a comparison or LIKE on a missing property
is false, so `NOT ("p" = 1)` is true for an item without "p". Only `IS NULL` sees missing values.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

__all__ = [
    "MAX_DEPTH",
    "MAX_SQL_LENGTH",
    "And",
    "Compare",
    "Expr",
    "IsNull",
    "Like",
    "Not",
    "Or",
    "Query",
    "RangeNotSatisfiable",
    "Scope",
    "SqlError",
    "content_range",
    "matches",
    "parse_range",
    "parse_sql",
    "sort_rows",
]

MAX_SQL_LENGTH = 256 * 1024  # characters; longer statements are refused before tokenizing
MAX_DEPTH = 64  # nested parentheses plus NOTs
_MAX_RANGE_LENGTH = 4096  # characters in a Range header

T = TypeVar("T")


class SqlError(ValueError):
    """SQL (or a Range header) we cannot parse or do not support; → HTTP 400.

    ``position`` is the 0-based character offset of the problem, when there is one.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        if position is not None:
            message = f"{message} (at position {position})"
        super().__init__(message)
        self.position = position


class RangeNotSatisfiable(ValueError):
    """The Range header asks only for rows the result does not have; → HTTP 416."""

    def __init__(self, header: str, total: int) -> None:
        super().__init__(f"Range {header!r} is beyond the {total} row(s) of the result")
        self.header = header
        self.total = total


# --------------------------------------------------------------------------------------------
# The parsed query

Value: TypeAlias = str | int | float | bool | datetime | bytes


@dataclass(frozen=True)
class Scope:
    depth: str  # "shallow" | "deep" | "hierarchical"
    path: str  # the path/URL inside the scope; "" means the request URL


@dataclass(frozen=True)
class Compare:
    """``"prop" <op> value``; ``op`` is one of = != < <= > >= (``<>`` is stored as ``!=``)."""

    prop: str
    op: str
    value: Value


@dataclass(frozen=True)
class Like:
    prop: str
    pattern: str  # % = any run, _ = one character, no escape character


@dataclass(frozen=True)
class IsNull:
    prop: str


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]


Expr: TypeAlias = Compare | Like | IsNull | Not | And | Or


@dataclass(frozen=True)
class Query:
    select: tuple[str, ...]  # full property names, in request order
    scope: Scope
    where: Expr | None
    order_by: tuple[tuple[str, bool], ...]  # (property, descending)
    aliases: tuple[tuple[str, str], ...] = ()  # (property, alias) for `"prop" AS alias` columns


# --------------------------------------------------------------------------------------------
# Tokenizer

_OPERATORS = ("<=", ">=", "<>", "!=", "=", "<", ">")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True)
class _Token:
    kind: str  # "word" | "ident" | "string" | "number" | "op" | "(" | ")" | "," | "eof"
    text: str  # the value: unquoted string/ident content, the word, the operator, ...
    pos: int

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of query"
        shown = self.text if len(self.text) <= 30 else self.text[:27] + "..."
        quote = {"ident": '"', "string": "'"}.get(self.kind, "'")
        return f"{quote}{shown}{quote}"

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, end = 0, len(text)
    while pos < end:
        ch = text[pos]
        if ch.isspace():
            pos += 1
        elif ch == "'":
            value, after = _scan_string(text, pos)
            tokens.append(_Token("string", value, pos))
            pos = after
        elif ch == '"':
            close = text.find('"', pos + 1)
            if close < 0:
                raise SqlError("unterminated double-quoted name", pos)
            tokens.append(_Token("ident", text[pos + 1 : close], pos))
            pos = close + 1
        elif ch in "(),":
            tokens.append(_Token(ch, ch, pos))
            pos += 1
        elif m := _NUMBER_RE.match(text, pos):
            tokens.append(_Token("number", m.group(), pos))
            pos = m.end()
        elif m := _WORD_RE.match(text, pos):
            tokens.append(_Token("word", m.group(), pos))
            pos = m.end()
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, pos)), None)
            if op is None:
                raise SqlError(f"unexpected character {ch!r}", pos)
            tokens.append(_Token("op", op, pos))
            pos += len(op)
    tokens.append(_Token("eof", "", end))
    return tokens


def _scan_string(text: str, start: int) -> tuple[str, int]:
    """Read the single-quoted literal at ``start`` (``''`` is a quote); return (value, next pos)."""
    parts: list[str] = []
    pos = start + 1
    while True:
        close = text.find("'", pos)
        if close < 0:
            raise SqlError("unterminated string literal", start)
        parts.append(text[pos:close])
        if text.startswith("''", close):
            parts.append("'")
            pos = close + 2
        else:
            return "".join(parts), close + 1


# --------------------------------------------------------------------------------------------
# Parser

_CMP_OPS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FLIPPED = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_SCOPE_RE = re.compile(
    r'\s*(shallow|deep|hierarchical)\s+traversal\s+of\s+"([^"]*)"\s*', re.IGNORECASE
)


@dataclass(frozen=True)
class _Prop:
    name: str


def _parse_cast(value: str, type_name: str, pos: int) -> Value:
    """CAST("value" as 'type'): convert at parse time, so a bad value is a SqlError."""
    kind = type_name.lower()
    try:
        if kind in ("datetime.tz", "datetime"):
            parsed = _parse_date(value)
            if parsed is None:
                raise ValueError(value)
            return parsed
        if kind in ("int", "i2", "i4", "i8", "ui1", "ui2", "ui4", "ui8"):
            return int(value)
        if kind in ("float", "r4", "r8", "number"):
            return float(value)
        if kind in ("boolean", "bool"):
            flag = _as_bool(value)
            if flag is None:
                raise ValueError(value)
            return flag
        if kind == "string":
            return value
        if kind == "bin.base64":
            return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise SqlError(f"cannot CAST {value[:40]!r} as {type_name!r}", pos) from None
    raise SqlError(f"unsupported CAST type {type_name!r}", pos)


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    # -- token helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def fail(self, expected: str) -> SqlError:
        return SqlError(f"expected {expected}, found {self.tok.describe()}", self.tok.pos)

    def expect(self, kind: str, expected: str) -> _Token:
        if self.tok.kind != kind:
            raise self.fail(expected)
        return self.advance()

    def expect_word(self, word: str) -> None:
        if not self.tok.is_word(word):
            raise self.fail(word)
        self.advance()

    def accept_word(self, *words: str) -> bool:
        if self.tok.is_word(*words):
            self.advance()
            return True
        return False

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SqlError(f"conditions nested deeper than {MAX_DEPTH}", self.tok.pos)

    # -- statement
    def query(self) -> Query:
        self.expect_word("SELECT")
        select: list[str] = []
        aliases: list[tuple[str, str]] = []
        while True:
            prop = self.expect("ident", "a quoted property name").text
            select.append(prop)
            if self.accept_word("AS"):
                if self.tok.kind not in ("word", "ident"):
                    raise self.fail("an alias")
                aliases.append((prop, self.advance().text))
            if self.tok.kind != ",":
                break
            self.advance()
        self.expect_word("FROM")
        scope = self.source()
        where = None
        if self.accept_word("WHERE"):
            where = self.or_expr()
        order_by: list[tuple[str, bool]] = []
        if self.accept_word("ORDER"):
            self.expect_word("BY")
            while True:
                prop = self.expect("ident", "a quoted property name").text
                descending = self.tok.is_word("DESC")
                self.accept_word("ASC", "DESC")
                order_by.append((prop, descending))
                if self.tok.kind != ",":
                    break
                self.advance()
        if self.tok.kind != "eof":
            if order_by:
                raise self.fail("',' or end of query")
            raise self.fail(
                "ORDER BY or end of query" if where else "WHERE, ORDER BY or end of query"
            )
        return Query(tuple(select), scope, where, tuple(order_by), tuple(aliases))

    def source(self) -> Scope:
        if self.tok.kind == "ident":
            return Scope("shallow", self.advance().text)
        if not self.tok.is_word("SCOPE"):
            raise self.fail("a quoted path or SCOPE(...)")
        self.advance()
        self.expect("(", "'(' after SCOPE")
        arg = self.expect("string", "a traversal string such as 'SHALLOW TRAVERSAL OF \"/x\"'")
        m = _SCOPE_RE.fullmatch(arg.text)
        if m is None:
            raise SqlError(
                "scope must be 'SHALLOW|DEEP|HIERARCHICAL TRAVERSAL OF \"path\"'", arg.pos
            )
        self.expect(")", "')' closing SCOPE (only one traversal is supported)")
        return Scope(m.group(1).lower(), m.group(2))

    # -- conditions
    def or_expr(self) -> Expr:
        operands = [self.and_expr()]
        while self.accept_word("OR"):
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Expr:
        operands = [self.not_expr()]
        while self.accept_word("AND"):
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Expr:
        if self.tok.is_word("NOT"):
            self.enter()
            self.advance()
            inner = self.not_expr()
            self.depth -= 1
            return Not(inner)
        if self.tok.kind == "(":
            self.enter()
            self.advance()
            inner = self.or_expr()
            self.expect(")", "')' or a boolean operator")
            self.depth -= 1
            return inner
        return self.predicate()

    def predicate(self) -> Expr:
        start = self.tok.pos
        left = self.operand()
        if self.tok.is_word("IS"):
            prop = self.need_prop(left, start, "IS NULL")
            self.advance()
            negated = self.accept_word("NOT")
            self.expect_word("NULL")
            return Not(IsNull(prop)) if negated else IsNull(prop)
        if self.tok.is_word("NOT", "LIKE"):
            prop = self.need_prop(left, start, "LIKE")
            negated = self.accept_word("NOT")
            self.expect_word("LIKE")
            pattern = self.expect("string", "a quoted LIKE pattern").text
            return Not(Like(prop, pattern)) if negated else Like(prop, pattern)
        if self.tok.kind != "op":
            raise self.fail("a comparison operator, IS or LIKE")
        op = _CMP_OPS[self.advance().text]
        right_pos = self.tok.pos
        right = self.operand()
        if isinstance(left, _Prop) and not isinstance(right, _Prop):
            return Compare(left.name, op, right)
        if isinstance(right, _Prop) and not isinstance(left, _Prop):
            return Compare(right.name, _FLIPPED[op], left)
        where = start if isinstance(left, _Prop) else right_pos
        raise SqlError("a comparison needs one property and one value", where)

    def need_prop(self, operand: _Prop | Value, pos: int, what: str) -> str:
        if not isinstance(operand, _Prop):
            raise SqlError(f"{what} needs a quoted property name on its left", pos)
        return operand.name

    def operand(self) -> _Prop | Value:
        tok = self.tok
        if tok.kind == "ident":
            self.advance()
            return _Prop(tok.text)
        if tok.kind == "string":
            self.advance()
            return tok.text
        if tok.kind == "number":
            if len(tok.text) > 40:
                raise SqlError("number literal too long", tok.pos)
            self.advance()
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.is_word("TRUE", "FALSE"):
            self.advance()
            return tok.text.upper() == "TRUE"
        if tok.is_word("CAST"):
            self.advance()
            self.expect("(", "'(' after CAST")
            value = self.expect("ident", "a double-quoted value, as in CAST(\"...\" as 'type')")
            self.expect_word("AS")
            type_name = self.expect("string", "a quoted type name such as 'dateTime.tz'")
            self.expect(")", "')' closing CAST")
            return _parse_cast(value.text, type_name.text, value.pos)
        if tok.is_word("NULL"):
            raise SqlError("compare with NULL using IS NULL / IS NOT NULL", tok.pos)
        if tok.kind == "word":
            raise SqlError(f"unknown function or keyword {tok.describe()}", tok.pos)
        raise self.fail("a property, a value or '('")


def parse_sql(text: str) -> Query:
    """Parse one SEARCH statement.

    Raises:
        SqlError: the text is not in the supported subset (message names the position).
    """
    if len(text) > MAX_SQL_LENGTH:
        raise SqlError(f"statement longer than {MAX_SQL_LENGTH} characters", MAX_SQL_LENGTH)
    return _Parser(_tokenize(text)).query()


# --------------------------------------------------------------------------------------------
# Evaluation

_DATE_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")
_NUMBER_TEXT_RE = re.compile(r"\s*[+-]?[0-9]{1,40}(?:\.[0-9]{1,40})?\s*")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _parse_date(text: str) -> datetime | None:
    """`yyyy/MM/dd HH:mm:ss` (SDK, DavMail) or ISO-8601 (``Z``, offset, ``.000Z``); naive = UTC."""
    text = text.strip()
    return None if len(text) > 40 else _parse_short_date(text)  # only short keys get cached


@functools.lru_cache(maxsize=512)
def _parse_short_date(text: str) -> datetime | None:
    parsed: datetime | None = None
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)  # naive; made UTC below
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    return _utc(parsed)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str):
        return {"1": True, "true": True, "0": False, "false": False}.get(value.strip().casefold())
    return None


def _as_number(value: object) -> int | float | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMBER_TEXT_RE.fullmatch(value):
        return float(value) if "." in value else int(value)
    return None


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str):
        return _parse_date(value)
    return None


def _coerce(value: object, literal: Value) -> tuple[Any, Any] | None:
    """Bring an item value and a literal to one comparable type, led by the item's type."""
    if isinstance(value, bool):
        flag = _as_bool(literal)
        return None if flag is None else (value, flag)
    if isinstance(value, int | float):
        number = _as_number(literal)
        return None if number is None else (value, number)
    if isinstance(value, datetime):
        when = _as_datetime(literal)
        return None if when is None else (_utc(value), when)
    if isinstance(value, bytes):
        return (value, literal) if isinstance(literal, bytes) else None
    if isinstance(value, str):
        if isinstance(literal, str):
            # Exchange's default collation is case-insensitive (inferred).
            return value.casefold(), literal.casefold()
        if isinstance(literal, bool):
            flag = _as_bool(value)
            return None if flag is None else (flag, literal)
        if isinstance(literal, int | float):
            number = _as_number(value)
            return None if number is None else (number, literal)
        if isinstance(literal, datetime):
            when = _parse_date(value)
            return None if when is None else (when, literal)
    return None


def _compare(value: object, op: str, literal: Value) -> bool:
    pair = _coerce(value, literal)
    return pair is not None and _OPS[op](*pair)


def _like(text: str, pattern: str) -> bool:
    """SQL LIKE without regular expressions: linear-time greedy wildcard matching."""
    t, p = text.casefold(), pattern.casefold()
    ti = pi = 0
    star, mark = -1, 0
    while ti < len(t):
        if pi < len(p) and p[pi] == "%":
            star, mark = pi, ti
            pi += 1
        elif pi < len(p) and (p[pi] == "_" or p[pi] == t[ti]):
            ti += 1
            pi += 1
        elif star >= 0:
            mark += 1
            ti, pi = mark, star + 1
        else:
            return False
    while pi < len(p) and p[pi] == "%":
        pi += 1
    return pi == len(p)


def _values(value: object) -> list[object] | None:
    """The item's values as a list (multivalued or not); None when the property is missing."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return list(value) or None  # an empty multivalued property counts as missing
    return [value]


def matches(where: Expr | None, get: Callable[[str], object | None]) -> bool:
    """True when the item whose properties ``get`` returns satisfies ``where`` (None = all).

    Multivalued values: any element may satisfy =, <, <=, >, >= and LIKE; != needs every element
    to differ (so it is the negation of = for a present property).
    """
    if where is None:
        return True
    if isinstance(where, And):
        return all(matches(e, get) for e in where.operands)
    if isinstance(where, Or):
        return any(matches(e, get) for e in where.operands)
    if isinstance(where, Not):
        return not matches(where.operand, get)
    values = _values(get(where.prop))
    if isinstance(where, IsNull):
        return values is None
    if values is None:
        return False
    if isinstance(where, Like):
        return any(isinstance(v, str) and _like(v, where.pattern) for v in values)
    if where.op == "!=":
        return all(_compare(v, "!=", where.value) for v in values)
    return any(_compare(v, where.op, where.value) for v in values)


def _sort_key(value: object) -> tuple[Any, ...]:
    """Total order across types: missing < numbers/bools < dates < strings < bytes < lists."""
    if value is None:
        return (0,)
    if isinstance(value, int | float):
        is_nan = isinstance(value, float) and math.isnan(value)
        return (1, is_nan, 0 if is_nan else value)
    if isinstance(value, datetime):
        return (2, _utc(value))
    if isinstance(value, str):
        return (3, value.casefold())
    if isinstance(value, bytes):
        return (4, value)
    if isinstance(value, list | tuple):
        return (5, tuple(_sort_key(v) for v in value))
    return (6, type(value).__name__, repr(value))


def sort_rows(
    rows: Iterable[T],
    order_by: Iterable[tuple[str, bool]],
    get: Callable[[T, str], object | None],
) -> list[T]:
    """Stable sort by each (property, descending) key; missing values first when ascending."""
    result = list(rows)
    for prop, descending in reversed(list(order_by)):
        result.sort(key=_row_key(prop, get), reverse=descending)
    return result


def _row_key(prop: str, get: Callable[[T, str], object | None]) -> Callable[[T], tuple[Any, ...]]:
    return lambda row: _sort_key(get(row, prop))


# --------------------------------------------------------------------------------------------
# Range: rows=

_RANGE_SPEC_RE = re.compile(r"\s*([0-9]{1,18})?\s*-\s*([0-9]{1,18})?\s*")


def parse_range(header: str | None, total: int) -> tuple[int, int] | None:
    """The inclusive (first, last) row indices a ``Range: rows=...`` header selects.

    Forms: ``rows=20-39``, ``rows=228-`` (to the end), ``rows=-50`` (the last 50). Several ranges
    (``rows=0-5, 10-15``, ``rows=0-4,-5``) are simplified to one span from the smallest start to
    the largest end, because a SEARCH answer is a single multistatus. Ranges wholly past the end
    are dropped; ``rows=-0`` selects nothing.

    Returns:
        None when there is no header; else (first, last), clipped to ``total``.

    Raises:
        RangeNotSatisfiable: no requested row exists (→ 416).
        SqlError: the header is not a ``rows=`` range (→ 400).
    """
    if header is None:
        return None
    if len(header) > _MAX_RANGE_LENGTH:
        raise SqlError("Range header too long")
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "rows":
        raise SqlError(f"Range header must be rows=..., got {header[:40]!r}")
    spans: list[tuple[int, int]] = []
    seen = False
    for spec in specs.split(","):
        if not spec.strip():
            continue
        m = _RANGE_SPEC_RE.fullmatch(spec)
        if m is None or (m.group(1) is None and m.group(2) is None):
            raise SqlError(f"bad row range {spec.strip()[:40]!r} in Range header")
        seen = True
        start, end = m.group(1), m.group(2)
        if start is None:  # suffix: the last N rows
            count = int(end)
            if count > 0 and total > 0:
                spans.append((max(0, total - count), total - 1))
            continue
        first = int(start)
        last = total - 1 if end is None else int(end)
        if end is not None and last < first:
            raise SqlError(f"row range {spec.strip()!r} ends before it starts")
        if first < total:
            spans.append((first, min(last, total - 1)))
    if not seen:
        raise SqlError("Range header names no rows")
    if not spans:
        raise RangeNotSatisfiable(header, total)
    return min(s[0] for s in spans), max(s[1] for s in spans)


def content_range(first: int, last: int, total: int) -> str:
    """The ``Content-Range`` value for rows first..last (inclusive) of ``total``."""
    if not 0 <= first <= last < total:
        raise ValueError(f"rows {first}-{last} are not inside a result of {total}")
    return f"rows {first}-{last}; total={total}"
