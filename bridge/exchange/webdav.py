"""Pure WebDAV for Exchange 2003: request bodies out, typed multistatus values in.

Rule kept here (the h11 "bring your own I/O" split): nothing in this module touches a socket, a file
or a logger. Size: over 400 lines because builders and the SAX parser share one table of
namespaces and typed-value encodings; split, each half would carry a copy of it.
Builders take Python values and return the bytes of a request body; parsers take the
bytes of an answer and return frozen values, or raise `ProtocolError` — never a bare XML error.

Property names are single strings, ``namespace + local`` exactly as Exchange spells them
(``"urn:schemas:calendar:dtstart"``, ``"DAV:getetag"``,
``"http://schemas.microsoft.com/mapi/id/{GUID}/0x8503"``); `split_name` takes them apart.

Typed values (reference §2.1 "per-datatype encodings", §4.6, §4.7)::

    Python                      wire  (dt = urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/)
    str                         plain text, no dt attribute (the server knows its schema props)
    bool                        dt:dt="boolean"            0 / 1
    int                         dt:dt="int"
    float                       dt:dt="float"              repr() of the float (finite only)
    datetime (aware)            dt:dt="dateTime.tz"        UTC, 2026-12-10T14:00:00.000Z
    bytes                       dt:dt="bin.base64"
    list[str] / [int] /         dt:dt="mv.string" / "mv.int" / "mv.dateTime.tz" / "mv.bin.base64"
      [datetime] / [bytes]      with one <x:v> child per value, x bound to "xml:"

Parsing strategy: answers are read with defusedxml's SAX parser with namespace processing *off*
and DTDs forbidden (so entity bombs and external entities fail before any expansion), and the
namespaces are resolved here. Two reasons, both about real Exchange answers: expat's namespace mode
rejects the element names Exchange uses for named MAPI properties (``<d:0x8503>``, a valid XML 1.0
name but not a valid QName), and it rejects namespace URIs containing ``}`` — the separator
ElementTree uses — which every ``.../mapi/id/{GUID}/`` namespace contains.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Final
from xml.sax import SAXException
from xml.sax.handler import ContentHandler
from xml.sax.xmlreader import AttributesImpl

import defusedxml.sax
from defusedxml import DefusedXmlException

from bridge.exchange.errors import ProtocolError

__all__ = [
    "MAX_BODY_BYTES",
    "NS_CALENDAR",
    "NS_CONTACTS",
    "NS_DATATYPES",
    "NS_DAV",
    "NS_EXCHANGE",
    "NS_HTTPMAIL",
    "NS_MAILHEADER",
    "NS_MAPI",
    "NS_MAPI_ID",
    "NS_MV",
    "NS_PROPTAG",
    "NS_REPL",
    "PSETID_APPOINTMENT",
    "Response",
    "XmlNode",
    "build_propfind",
    "build_proppatch",
    "build_range",
    "build_search",
    "build_sql",
    "format_datetime",
    "mapi_id_name",
    "parse_content_range",
    "parse_datetime",
    "parse_multistatus",
    "parse_xml",
    "prop_name",
    "split_name",
    "sql_datetime",
    "sql_identifier",
    "sql_literal",
    "sql_string",
]

# -- namespaces (reference §1) ------------------------------------------------------------------

NS_DAV: Final = "DAV:"
NS_CALENDAR: Final = "urn:schemas:calendar:"
NS_HTTPMAIL: Final = "urn:schemas:httpmail:"
NS_MAILHEADER: Final = "urn:schemas:mailheader:"
NS_CONTACTS: Final = "urn:schemas:contacts:"
NS_EXCHANGE: Final = "http://schemas.microsoft.com/exchange/"
NS_MAPI: Final = "http://schemas.microsoft.com/mapi/"
NS_PROPTAG: Final = "http://schemas.microsoft.com/mapi/proptag/"
NS_MAPI_ID: Final = "http://schemas.microsoft.com/mapi/id/"
NS_REPL: Final = "http://schemas.microsoft.com/repl/"
NS_DATATYPES: Final = "urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/"
NS_MV: Final = "xml:"  # namespace of the <x:v> children of multivalued properties
NS_XML: Final = "http://www.w3.org/XML/1998/namespace"  # the reserved "xml" prefix
PSETID_APPOINTMENT: Final = "{00062002-0000-0000-C000-000000000046}"

MAX_BODY_BYTES: Final = 16 * 1024 * 1024
MAX_DEPTH: Final = 64

# Prefixes used in the bodies we send: letters only (reference observed-traffic §7.3), declared
# once on the root element.
_PREFIXES: Final[Mapping[str, str]] = {
    NS_DAV: "D",
    NS_DATATYPES: "dt",
    NS_MV: "x",
    NS_CALENDAR: "C",
    NS_HTTPMAIL: "H",
    NS_MAILHEADER: "M",
    NS_EXCHANGE: "E",
    NS_MAPI: "P",
    NS_PROPTAG: "T",
    NS_REPL: "R",
    NS_CONTACTS: "K",
}

_LOCAL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# -- property names ------------------------------------------------------------------------------


def split_name(full: str) -> tuple[str, str]:
    """Split a full property name into ``(namespace, local)`` at its last ``:`` or ``/``.

    >>> split_name("DAV:getetag")
    ('DAV:', 'getetag')
    >>> split_name("http://schemas.microsoft.com/mapi/id/{00062002-0000-0000-C000-000000000046}/0x8503")
    ('http://schemas.microsoft.com/mapi/id/{00062002-0000-0000-C000-000000000046}/', '0x8503')

    Raises:
        ValueError: no separator, an empty part, or a local part that cannot be an element name.
    """
    cut = max(full.rfind(":"), full.rfind("/")) + 1
    namespace, local = full[:cut], full[cut:]
    if not namespace or not local or not _LOCAL.match(local):
        raise ValueError(f"not a full WebDAV property name: {full!r}")
    if _XML_ILLEGAL.search(namespace) or any(c in namespace for c in "\"<>&\t\r\n "):
        raise ValueError(f"unusable namespace in property name: {full!r}")
    return namespace, local


def prop_name(namespace: str, local: str) -> str:
    """The full name of ``local`` in ``namespace`` (validated by `split_name`)."""
    full = namespace + local
    if split_name(full) != (namespace, local):
        raise ValueError(f"{local!r} does not split back out of {namespace!r}")
    return full


def mapi_id_name(guid: str, prop_id: int) -> str:
    """A named MAPI property: ``mapi_id_name(PSETID_APPOINTMENT, 0x8503)`` ->
    ``http://schemas.microsoft.com/mapi/id/{00062002-...}/0x8503`` (hex as in the reference)."""
    if not re.fullmatch(r"\{[0-9A-Fa-f-]{36}\}", guid) or prop_id < 0:
        raise ValueError(f"bad named property: {guid!r} {prop_id!r}")
    return f"{NS_MAPI_ID}{guid}/{prop_id:#x}"


# -- dates ---------------------------------------------------------------------------------------

_DATETIME = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(Z|z|[+-]\d{2}:?\d{2})?\s*\Z"
)


def format_datetime(value: datetime, *, millis: bool = True) -> str:
    """UTC ISO-8601 as Exchange writes it: ``2026-12-10T14:00:00.000Z`` (or without ``.000``).

    Raises:
        ValueError: ``value`` is naive (a wall-clock time without zone is ambiguous).
    """
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"an aware datetime is required, got {value!r}")
    u = value.astimezone(UTC)
    text = f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
    if millis:
        text += f".{u.microsecond // 1000:03d}"
    return text + "Z"


def parse_datetime(text: str) -> datetime:
    """Parse an Exchange date: with or without fractional seconds, ``Z`` or a numeric offset.

    A value without any zone designator is taken as UTC (Exchange stores UTC). Returns an aware
    UTC datetime.

    Raises:
        ValueError: not a date in that shape.
    """
    m = _DATETIME.match(text)
    if not m:
        raise ValueError(f"not an ISO-8601 date-time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, zone = m.group(7), m.group(8)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz: timezone = UTC
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = timezone(sign * offset)
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(UTC)


# -- typed values --------------------------------------------------------------------------------


def _encode_scalar(value: object) -> tuple[str | None, str]:
    """``(dt type or None, text)`` for one value."""
    if isinstance(value, bool):
        return "boolean", "1" if value else "0"
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot send a non-finite float: {value!r}")
        return "float", repr(value)
    if isinstance(value, datetime):
        return "dateTime.tz", format_datetime(value)
    if isinstance(value, bytes | bytearray):
        return "bin.base64", base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, str):
        return None, value
    raise ValueError(f"cannot encode a {type(value).__name__} as a WebDAV value: {value!r}")


def _encode_value(value: object) -> tuple[str | None, str | list[str]]:
    if isinstance(value, list | tuple):
        items = list(value)
        if any(isinstance(v, bool) for v in items):
            raise ValueError("multivalued booleans are not supported")
        encoded = [_encode_scalar(v) for v in items]
        kinds = {kind or "string" for kind, _ in encoded}
        if len(kinds) > 1:
            raise ValueError(f"a multivalued property needs values of one type, got {kinds}")
        kind = kinds.pop() if kinds else "string"
        if kind == "float":
            raise ValueError("multivalued floats are not supported")
        return "mv." + kind, [text for _, text in encoded]
    return _encode_scalar(value)


_INT = re.compile(r"\s*[+-]?\d+\s*\Z")
_FLOAT = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*\Z")
_INT_TYPES = frozenset({"int", "i1", "i2", "i4", "i8", "ui1", "ui2", "ui4", "ui8"})
_FLOAT_TYPES = frozenset({"float", "r4", "r8", "number", "fixed.14.4"})
_EMPTY_IS_NONE = _INT_TYPES | _FLOAT_TYPES | {
    "boolean", "dateTime", "dateTime.tz", "dateTime.rfc1123",
}


def _decode_scalar(kind: str, text: str) -> object:
    """Decode one wire value of datatype ``kind``; unknown types stay text.

    Raises:
        ValueError: the text does not match its declared type.
    """
    if kind in _INT_TYPES:
        if not _INT.match(text):
            raise ValueError(f"not an int: {text!r}")
        return int(text)
    if kind == "boolean":
        flag = text.strip().lower()
        if flag in ("1", "true"):
            return True
        if flag in ("0", "false"):
            return False
        raise ValueError(f"not a boolean: {text!r}")
    if kind in _FLOAT_TYPES:
        if not _FLOAT.match(text):
            raise ValueError(f"not a float: {text!r}")
        return float(text)
    if kind in ("dateTime.tz", "dateTime"):
        return parse_datetime(text)
    if kind == "dateTime.rfc1123":
        return parsedate_to_datetime(text.strip()).astimezone(UTC)
    if kind == "bin.base64":
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except binascii.Error as e:
            raise ValueError(f"bad base64: {e}") from e
    if kind == "bin.hex":
        return bytes.fromhex("".join(text.split()))
    return text


def _decode_value(node: XmlNode) -> object:
    """The Python value of a property element (see the module table)."""
    kind = node.attrs.get(NS_DATATYPES + "dt") or node.attrs.get("dt")
    values = [c for c in node.children if c.local == "v"]
    if kind is None:
        # Untyped: plain text; a list when it only holds <v> children (lenient mv.string).
        if node.children:
            if len(values) == len(node.children):
                return [v.text for v in values]
            return "".join(node.itertext())
        return node.text
    kind = kind.strip()
    if kind.startswith("mv."):
        return [_decode_scalar(kind[3:], v.text) for v in values]
    if not node.text.strip() and kind in _EMPTY_IS_NONE:
        return None  # an empty number/flag/date: the property exists but has no value
    return _decode_scalar(kind, node.text)


# -- building request bodies ---------------------------------------------------------------------


def _check_text(text: str) -> None:
    bad = _XML_ILLEGAL.search(text)
    if bad:
        raise ValueError(f"character {bad.group()!r} cannot be sent in XML")


def _escape_text(text: str) -> str:
    _check_text(text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", "&#13;")  # a literal CR would be normalised away by the receiving parser
    )


class _Writer:
    """Assigns letter-only prefixes and declares every namespace once, on the root."""

    def __init__(self) -> None:
        self._prefixes: dict[str, str] = {NS_DAV: "D"}

    def prefix(self, namespace: str) -> str:
        found = self._prefixes.get(namespace)
        if found is None:
            found = _PREFIXES.get(namespace) or self._fresh()
            self._prefixes[namespace] = found
        return found

    def _fresh(self) -> str:
        n = sum(1 for p in self._prefixes.values() if p.startswith("N"))
        letters = ""
        while True:
            n, r = divmod(n, 26)
            letters = chr(ord("a") + r) + letters
            if n == 0:
                break
            n -= 1
        return "N" + letters

    def tag(self, full: str) -> str:
        namespace, local = split_name(full)
        return f"{self.prefix(namespace)}:{local}"

    def document(self, root: str, inner: str) -> bytes:
        decls = "".join(
            f' xmlns:{p}="{ns.replace("&", "&amp;")}"' for ns, p in self._prefixes.items()
        )
        text = f'<?xml version="1.0" encoding="utf-8"?>\n<D:{root}{decls}>{inner}</D:{root}>'
        return text.encode("utf-8")

    def element(self, full: str, value: object) -> str:
        tag = self.tag(full)
        kind, payload = _encode_value(value)
        if isinstance(payload, list):
            v = self.prefix(NS_MV) + ":v"
            body = "".join(f"<{v}>{_escape_text(item)}</{v}>" for item in payload)
        else:
            body = _escape_text(payload)
        if kind is None:
            return f"<{tag}>{body}</{tag}>"
        return f'<{tag} {self.prefix(NS_DATATYPES)}:dt="{kind}">{body}</{tag}>'


def build_propfind(props: Iterable[str] | None = None) -> bytes:
    """A PROPFIND body asking for ``props`` (full names), or ``allprop`` when None.

    Raises:
        ValueError: an empty list or an invalid property name.
    """
    w = _Writer()
    if props is None:
        return w.document("propfind", "<D:allprop/>")
    tags = [f"<{w.tag(name)}/>" for name in dict.fromkeys(props)]
    if not tags:
        raise ValueError("build_propfind needs at least one property (or None for allprop)")
    return w.document("propfind", "<D:prop>" + "".join(tags) + "</D:prop>")


def build_proppatch(set_props: Mapping[str, object], remove: Iterable[str] = ()) -> bytes:
    """A PROPPATCH body (``DAV:propertyupdate``) setting and removing properties.

    Values are typed as in the module table; None is not a value (list the name in ``remove``).

    Raises:
        ValueError: nothing to do, a name both set and removed, or a value that cannot be sent.
    """
    removed = list(dict.fromkeys(remove))
    both = set(removed) & set(set_props)
    if both:
        raise ValueError(f"properties both set and removed: {sorted(both)}")
    if not set_props and not removed:
        raise ValueError("build_proppatch needs something to set or remove")
    w = _Writer()
    inner = ""
    if set_props:
        inner += (
            "<D:set><D:prop>"
            + "".join(w.element(name, value) for name, value in set_props.items())
            + "</D:prop></D:set>"
        )
    if removed:
        inner += (
            "<D:remove><D:prop>"
            + "".join(f"<{w.tag(name)}/>" for name in removed)
            + "</D:prop></D:remove>"
        )
    return w.document("propertyupdate", inner)


def build_search(sql: str) -> bytes:
    """A SEARCH body: ``<D:searchrequest><D:sql>`` + the XML-escaped ``sql``."""
    if not sql.strip():
        raise ValueError("empty SQL")
    return _Writer().document("searchrequest", f"<D:sql>{_escape_text(sql)}</D:sql>")


# -- SQL (reference §5.1) ------------------------------------------------------------------------


def sql_identifier(name: str) -> str:
    """A property name as an SQL column: ``"urn:schemas:calendar:dtstart"``.

    Raises:
        ValueError: a name that is not a valid full property name (quotes, controls, ...).
    """
    split_name(name)
    if '"' in name or "'" in name:
        raise ValueError(f"quote in property name: {name!r}")
    return f'"{name}"'


def sql_string(value: str) -> str:
    """A string literal, quotes doubled: ``sql_string("O'Brien") == "'O''Brien'"``.

    Raises:
        ValueError: NUL or another character XML cannot carry.
    """
    if "\x00" in value:
        raise ValueError("NUL in an SQL string literal")
    _check_text(value)
    return "'" + value.replace("'", "''") + "'"


def sql_datetime(value: datetime) -> str:
    """``CAST("2026-12-10T14:00:00Z" as 'dateTime.tz')`` (Evolution/DavMail form, §4.7)."""
    return f"CAST(\"{format_datetime(value, millis=False)}\" as 'dateTime.tz')"


def sql_literal(value: str | bool | int | datetime) -> str:
    """Any supported literal: strings, ``True``/``False``, integers, aware datetimes."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return sql_datetime(value)
    if isinstance(value, str):
        return sql_string(value)
    raise ValueError(f"no SQL literal for {value!r}")


_TRAVERSALS = ("SHALLOW", "DEEP", "HIERARCHICAL")


def build_sql(
    select: Iterable[str],
    folder_url: str,
    where: str | None = None,
    order_by: Iterable[str | tuple[str, str]] | None = None,
    *,
    traversal: str = "SHALLOW",
) -> str:
    """``SELECT "a","b" FROM SCOPE('SHALLOW TRAVERSAL OF "<folder>"') WHERE ... ORDER BY ...``.

    ``where`` is a fragment built with `sql_identifier`/`sql_literal` (it is inserted as is).
    ``order_by`` items are property names (ascending) or ``(name, "ASC" | "DESC")``. In
    ``folder_url`` a ``"`` or ``'`` is percent-encoded, since the URL sits inside both quotes.

    Raises:
        ValueError: no columns, an unknown traversal or direction, a bad name or URL.
    """
    columns = [sql_identifier(name) for name in dict.fromkeys(select)]
    if not columns:
        raise ValueError("SELECT needs at least one property")
    if traversal.upper() not in _TRAVERSALS:
        raise ValueError(f"unknown traversal {traversal!r}")
    if not folder_url or _XML_ILLEGAL.search(folder_url) or any(c < " " for c in folder_url):
        raise ValueError(f"unusable folder URL {folder_url!r}")
    url = folder_url.replace('"', "%22").replace("'", "%27")
    scope = f"SCOPE('{traversal.upper()} TRAVERSAL OF \"{url}\"')"
    # This function is the quoting layer: every piece above went through sql_identifier or the
    # URL checks, and ``where`` is documented as a fragment built with the sql_* helpers.
    sql = f"SELECT {','.join(columns)} FROM {scope}"  # noqa: S608
    if where is not None and where.strip():
        sql += f" WHERE {where}"
    if order_by is not None:
        keys: list[str] = []
        for item in order_by:
            name, direction = (item, "ASC") if isinstance(item, str) else item
            if direction.upper() not in ("ASC", "DESC"):
                raise ValueError(f"unknown sort direction {direction!r}")
            keys.append(f"{sql_identifier(name)} {direction.upper()}")
        if keys:
            sql += " ORDER BY " + ",".join(keys)
    return sql


# -- ranges (reference §5.2) ---------------------------------------------------------------------


def build_range(first: int, last: int | None = None) -> str:
    """The ``Range`` header value for SEARCH paging: ``rows=0-99`` (``rows=100-`` when open)."""
    if first < 0 or (last is not None and last < first):
        raise ValueError(f"bad row range {first}-{last}")
    return f"rows={first}-{'' if last is None else last}"


_CONTENT_RANGE = re.compile(
    r"\s*rows\s+(\d+)\s*-\s*(\d+)\s*(?:;\s*total\s*=\s*(\d+|\*)\s*)?\Z", re.IGNORECASE
)


def parse_content_range(header: str) -> tuple[int, int, int | None]:
    """``"rows 0-9; total=42"`` -> ``(0, 9, 42)``; the total is None when absent or ``*``.

    Raises:
        ProtocolError: any other shape, or first > last.
    """
    m = _CONTENT_RANGE.match(header)
    if not m:
        raise ProtocolError(f"unexpected Content-Range: {header[:80]!r}")
    first, last = int(m.group(1)), int(m.group(2))
    total = int(m.group(3)) if m.group(3) and m.group(3) != "*" else None
    if last < first:
        raise ProtocolError(f"unexpected Content-Range: {header[:80]!r}")
    return first, last, total


# -- parsing answers -----------------------------------------------------------------------------


@dataclass(eq=False)
class XmlNode:
    """One element of a parsed answer, namespaces resolved.

    ``attrs`` maps full attribute names (``namespace + local``; unprefixed attributes by their bare
    name) to values; ``text`` is the element's own character data (children's text excluded).
    """

    namespace: str
    local: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[XmlNode] = field(default_factory=list)
    text: str = ""

    @property
    def name(self) -> str:
        return self.namespace + self.local

    def find(self, namespace: str | None, local: str) -> XmlNode | None:
        """The first child with this local name (and namespace, unless None)."""
        for child in self.children:
            if child.local == local and (namespace is None or child.namespace == namespace):
                return child
        return None

    def findall(self, namespace: str | None, local: str) -> list[XmlNode]:
        return [
            c
            for c in self.children
            if c.local == local and (namespace is None or c.namespace == namespace)
        ]

    def iter(self, local: str) -> Iterable[XmlNode]:
        """Every descendant (document order, self excluded) with this local name."""
        stack = list(reversed(self.children))
        while stack:
            node = stack.pop()
            if node.local == local:
                yield node
            stack.extend(reversed(node.children))

    def itertext(self) -> Iterable[str]:
        """Own text then descendants' text, in document order (approximate for mixed content)."""
        stack: list[XmlNode] = [self]
        while stack:
            node = stack.pop()
            yield node.text
            stack.extend(reversed(node.children))


class _TreeBuilder(ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.root: XmlNode | None = None
        self._stack: list[XmlNode] = []
        self._scopes: list[dict[str, str]] = [{"xml": NS_XML, "": ""}]
        self._chunks: list[list[str]] = []

    def _resolve(self, qname: str, scope: dict[str, str], *, attribute: bool) -> tuple[str, str]:
        prefix, sep, local = qname.partition(":")
        if not sep:
            prefix, local = "", qname
            if attribute:
                return "", local  # unprefixed attributes are in no namespace
        if not local:
            raise ValueError(f"bad name {qname!r}")
        try:
            return scope[prefix], local
        except KeyError:
            raise ValueError(f"unbound namespace prefix in {qname!r}") from None

    def startElement(self, name: str, attrs: AttributesImpl) -> None:
        if len(self._stack) >= MAX_DEPTH:
            raise ValueError("document nested too deeply")
        scope = self._scopes[-1]
        declared = {
            (q[6:] if q.startswith("xmlns:") else ""): v
            for q, v in attrs.items()
            if q == "xmlns" or q.startswith("xmlns:")
        }
        if declared:
            scope = {**scope, **declared}
        self._scopes.append(scope)
        namespace, local = self._resolve(name, scope, attribute=False)
        node = XmlNode(namespace, local)
        for q, v in attrs.items():
            if q == "xmlns" or q.startswith("xmlns:"):
                continue
            a_ns, a_local = self._resolve(q, scope, attribute=True)
            node.attrs[a_ns + a_local] = v
        if self._stack:
            self._stack[-1].children.append(node)
        elif self.root is None:
            self.root = node
        self._stack.append(node)
        self._chunks.append([])

    def endElement(self, name: str) -> None:
        node = self._stack.pop()
        node.text = "".join(self._chunks.pop())
        self._scopes.pop()

    def characters(self, content: str) -> None:
        if self._chunks:
            self._chunks[-1].append(content)


def parse_xml(body: bytes, *, max_bytes: int = MAX_BODY_BYTES) -> XmlNode:
    """Parse an answer's XML safely and return its root element.

    Raises:
        ProtocolError: empty, larger than ``max_bytes``, malformed, with a DTD/entity declaration
            (XML bombs, external entities), nested deeper than 64 levels, or an unbound prefix.
        TypeError: ``body`` is not bytes (decoding is the parser's job, by the XML declaration).
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError("parse_xml takes the raw bytes of the answer")
    data = bytes(body)
    if len(data) > max_bytes:
        raise ProtocolError(f"XML answer larger than {max_bytes} bytes", body=data[:200])
    if not data.strip():
        raise ProtocolError("empty XML answer")
    builder = _TreeBuilder()
    try:
        defusedxml.sax.parseString(data, builder, forbid_dtd=True)
    except DefusedXmlException as e:
        raise ProtocolError(f"forbidden XML construct ({type(e).__name__})", body=data) from e
    except (SAXException, ValueError, LookupError) as e:
        raise ProtocolError(f"malformed XML: {e}", body=data) from e
    if builder.root is None:
        raise ProtocolError("XML answer without a root element", body=data)
    return builder.root


_STATUS_LINE = re.compile(r"\s*HTTP/\d+(?:\.\d+)?\s+(\d{3})(?:\s|\Z)")


def _status_code(node: XmlNode | None) -> int | None:
    if node is None:
        return None
    m = _STATUS_LINE.match(node.text)
    if not m:
        raise ProtocolError(f"unexpected status line {node.text[:60]!r}")
    return int(m.group(1))


@dataclass(frozen=True)
class Response:
    """One ``DAV:response`` of a multistatus.

    ``href`` is the text of the ``DAV:href`` as sent (absolute or relative, percent-encoded).
    ``status`` is the response-level status (B-methods, DELETE ...), None when only propstats
    came. ``props`` holds the decoded values of the properties reported with a 2xx status;
    ``prop_status`` the status of every property reported (404 for missing ones, 403/409/423/507
    for failed PROPPATCH updates).
    """

    href: str
    status: int | None
    props: Mapping[str, object]
    prop_status: Mapping[str, int]

    def get(self, name: str, default: object = None) -> object:
        return self.props.get(name, default)

    def failed_props(self) -> dict[str, int]:
        """Properties reported with a status of 300 or more (e.g. a rejected PROPPATCH)."""
        return {name: code for name, code in self.prop_status.items() if code >= 300}


def parse_multistatus(body: bytes) -> list[Response]:
    """Parse a ``207 Multi-Status`` answer (PROPFIND, SEARCH, PROPPATCH, B-methods).

    Any namespace prefixes are accepted (``a:``, ``p1:``, default namespaces). Values are decoded
    by their ``dt`` attribute (see the module table); untyped values stay text. An empty typed
    value decodes to None.

    Raises:
        ProtocolError: not a DAV:multistatus, a response without href, a propstat without a
            parseable status, a value that contradicts its declared type — or any `parse_xml`
            failure.
    """
    root = parse_xml(body)
    if root.namespace != NS_DAV or root.local != "multistatus":
        raise ProtocolError(f"expected DAV:multistatus, got {root.name!r}", body=body)
    out: list[Response] = []
    for resp in root.findall(NS_DAV, "response"):
        hrefs = [h.text.strip() for h in resp.findall(NS_DAV, "href")]
        if not hrefs or not hrefs[0]:
            raise ProtocolError("DAV:response without DAV:href", body=body)
        status = _status_code(resp.find(NS_DAV, "status"))
        props: dict[str, object] = {}
        prop_status: dict[str, int] = {}
        for propstat in resp.findall(NS_DAV, "propstat"):
            code = _status_code(propstat.find(NS_DAV, "status"))
            if code is None:
                raise ProtocolError("DAV:propstat without DAV:status", body=body)
            for prop in propstat.findall(NS_DAV, "prop"):
                for node in prop.children:
                    name = node.name
                    if 200 <= code < 300:
                        try:
                            props[name] = _decode_value(node)
                        except ValueError as e:
                            raise ProtocolError(f"bad value for {name}: {e}", body=body) from e
                        prop_status[name] = code
                    elif name not in props:
                        prop_status[name] = code
        # RFC 2518 allows several hrefs sharing one status (B-methods): one Response each.
        for href in hrefs:
            out.append(Response(href, status, props, prop_status))
    return out
