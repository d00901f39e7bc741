"""WebDAV XML in and out: defused request parsing, typed values, and the Exchange multistatus.

Rules kept here:
- Requests are parsed with defusedxml; any DTD, entity declaration or malformed document raises
  `XmlError` (→ 400). A property's full name is its namespace URI + local name
  (`urn:schemas:httpmail:` + `subject`).
- The multistatus declares EVERY namespace it uses on the root with letter-only prefixes:
  `a` = DAV:, `b` = the datatype namespace, `c` = `xml:` (multivalue `<c:v>`), then `d`, `e`, …,
  `z`, `aa`, `ab`, … in order of first use (observed-traffic §7.3). In each propstat
  `<a:status>` comes before `<a:prop>`. Typed values carry `b:dt` (reference §2.1, §4.6, §4.7).
- A local name that is not a valid XML name (`mapi/id/{GUID}/0x8503`) is written with the
  `_xHHHH_` escape of each offending character (`_x0030_x8503`), and decoded the same way on
  input. Exchange itself emits `<d:0x8503>`, which is malformed XML; we keep the document
  well-formed instead (documented deviation).
- On input Exchange also takes such names raw: DavMail's task PROPPATCH sends
  `<g:0x00008105 f:dt="dateTime.tz">` (davmail-client §2.2, §2.5; seen on the wire from DavMail
  6.0.1). A body that is malformed only because a tag name starts with a digit is read as if the
  digit had been written `_x003N_`; anything else malformed stays 400.
- Namespace URIs may contain `}`: the MAPI named-property sets are
  `http://schemas.microsoft.com/mapi/id/{GUID}/` (reference §2, DavMail's task PROPPATCH).
  Expat (>= 2.4.5) refuses a namespace URI holding ElementTree's separator `}`, so while parsing
  a `}` inside an `xmlns` value stands in as U+E000; `prop_name` turns it back.
- Characters XML 1.0 cannot carry in text are replaced by U+FFFD.
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET  # only the types; parsing goes through defusedxml
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree as DefusedET

from exchange_sim.responses import REASONS
from exchange_sim.store import PathRef

__all__ = [
    "DAV",
    "DT_NS",
    "MV_NS",
    "MultiStatus",
    "XmlError",
    "children",
    "format_datetime",
    "local",
    "parse_value",
    "parse_xml",
    "prop_name",
    "split_name",
    "url_for",
]

DAV = "DAV:"
DT_NS = "urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/"
MV_NS = "xml:"


class XmlError(ValueError):
    """The request body is not XML we accept (malformed, DTD/entities, wrong shape) → 400."""


# A start or end tag whose (optionally prefixed) local name starts with a digit: `<g:0x8105`.
_DIGIT_TAG = re.compile(rb"(</?)((?:[A-Za-z_][A-Za-z0-9_.\-]*:)?)([0-9])")
_NS_BRACE = "\ue000"  # stands for "}" inside namespace URIs while expat parses
_XMLNS_VALUE = re.compile(rb"""(\sxmlns(?::[^\s=/>]+)?\s*=\s*)("[^"<]*"|'[^'<]*')""")


def _protect_braces(body: bytes) -> bytes:
    if b"}" not in body:
        return body
    brace = _NS_BRACE.encode("utf-8")
    return _XMLNS_VALUE.sub(lambda m: m.group(1) + m.group(2).replace(b"}", brace), body)


def parse_xml(body: bytes) -> ET.Element:
    if not body.strip():
        raise XmlError("empty XML body")
    body = _protect_braces(body)
    try:
        return DefusedET.fromstring(body, forbid_dtd=True)
    except ET.ParseError as error:
        patched, count = _DIGIT_TAG.subn(rb"\1\2_x003\3_", body)
        if count:
            try:
                return DefusedET.fromstring(patched, forbid_dtd=True)
            except (defusedxml.DefusedXmlException, ET.ParseError, ValueError):
                pass
        raise XmlError(f"{type(error).__name__}: not acceptable XML") from error
    except (defusedxml.DefusedXmlException, ValueError) as error:
        raise XmlError(f"{type(error).__name__}: not acceptable XML") from error


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def children(element: ET.Element, namespace: str, name: str) -> list[ET.Element]:
    return [c for c in element if c.tag == f"{{{namespace}}}{name}"]


_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{8}|[0-9A-Fa-f]{4})_")


def prop_name(tag: str) -> str:
    """`{urn:schemas:httpmail:}subject` → `urn:schemas:httpmail:subject`."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
    else:
        namespace, name = "", tag
    name = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), name)
    return namespace.replace(_NS_BRACE, "}") + name


def split_name(name: str) -> tuple[str, str]:
    """Namespace and local name: split after the last `:`, `/` or `#`."""
    cut = max(name.rfind(":"), name.rfind("/"), name.rfind("#")) + 1
    if cut >= len(name):  # nothing after the separator: keep it all as the local name
        return "", name
    return name[:cut], name[cut:]


def _encode_local(name: str) -> str:
    out = []
    for index, char in enumerate(name):
        ok = char.isalpha() or char == "_" if index == 0 else char.isalnum() or char in "_.-"
        if index == 0 and char.lower() == "x" and name[:3].lower() == "xml":
            ok = False  # names starting with "xml" are reserved
        out.append(char if ok else f"_x{ord(char):04X}_" if ord(char) < 0x10000
                   else f"_x{ord(char):08X}_")
    return "".join(out)


# -- typed values ---------------------------------------------------------------------------

_INT = {"int", "i1", "i2", "i4", "i8", "ui1", "ui2", "ui4", "ui8"}
_FLOAT = {"float", "r4", "r8", "number", "fixed.14.4"}
_DATE = {"datetime.tz", "datetime", "date", "datetime.rfc1123"}

# Types the store knows for well-known properties sent without `dt` (Evolution sends none for
# schema properties, reference §2.1; DavMail's draft PROPPATCH sends mapi proptags untyped).
_C, _M, _H = "urn:schemas:calendar:", "http://schemas.microsoft.com/mapi/", "urn:schemas:httpmail:"
KNOWN_TYPES: dict[str, str] = {
    **{_C + n: "dateTime.tz" for n in ("dtstart", "dtend", "dtstamp", "created", "lastmodified",
                                      "replytime", "recurrenceid", "lastmodifiedtime")},
    **{_C + n: "int" for n in ("instancetype", "sequence", "reminderoffset", "duration",
                              "timezoneid")},
    **{_C + n: "boolean" for n in ("alldayevent", "responserequested", "isorganizer")},
    **{_C + n: "mv.string" for n in ("rrule", "exrule")},
    **{_C + n: "mv.dateTime.tz" for n in ("exdate", "rdate")},
    **{_M + n: "boolean" for n in ("finvited", "reminderset")},
    **{_M + n: "int" for n in ("reminderdelta", "busystatus", "intendedbusystatus",
                              "responsestatus", "apptstateflags")},
    **{_H + n: "boolean" for n in ("read", "hasattachment")},
    **{_H + n: "dateTime.tz" for n in ("date", "datereceived")},
    _H + "importance": "int",
}
_PROPTAG = re.compile(r"^http://schemas\.microsoft\.com/mapi/proptag/x[0-9a-f]{4}([0-9a-f]{4})$",
                      re.IGNORECASE)
_PROPTAG_TYPES = {"0002": "int", "0003": "int", "0014": "int", "0005": "float",
                  "000b": "boolean", "0040": "dateTime.tz", "0102": "bin.base64",
                  "001e": "string", "001f": "string", "101e": "mv.string", "101f": "mv.string",
                  "1003": "mv.int", "1040": "mv.dateTime.tz", "1102": "mv.bin.base64"}


def _schema_type(name: str) -> str | None:
    found = KNOWN_TYPES.get(name)
    if found is None and (m := _PROPTAG.match(name)):
        found = _PROPTAG_TYPES.get(m.group(1).lower())
    return found


def _parse_datetime(text: str) -> datetime:
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text.replace("/", "-"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_scalar(kind: str, text: str) -> object:
    kind_l = kind.lower()
    if kind_l in _INT:
        return int(text.strip())
    if kind_l in _FLOAT:
        return float(text.strip())
    if kind_l == "boolean":
        value = text.strip().lower()
        if value not in ("0", "1", "true", "false"):
            raise ValueError(f"not a boolean: {text[:20]!r}")
        return value in ("1", "true")
    if kind_l in _DATE:
        return _parse_datetime(text)
    if kind_l == "bin.base64":
        return base64.b64decode("".join(text.split()), validate=True)
    if kind_l == "bin.hex":
        return binascii.unhexlify("".join(text.split()))
    if kind_l in ("string", "uuid", "char", "uri"):
        return text
    raise ValueError(f"unknown datatype {kind[:30]!r}")


def parse_value(element: ET.Element, name: str) -> object:
    """The typed value of one `<prop>` child: by its `dt` attribute, else by schema, else text.

    Raises:
        ValueError: the text does not fit the type (→ per-property 409).
    """
    kind = next((v for k, v in element.attrib.items() if local(k) == "dt"), None)
    kind = kind or _schema_type(name)
    values = [c for c in element if local(c.tag) == "v"]
    if kind is not None and kind.lower().startswith("mv."):
        if not values and (element.text or "").strip():
            return [_parse_scalar(kind[3:], element.text or "")]
        return [_parse_scalar(kind[3:], v.text or "") for v in values]
    if kind is not None:
        return _parse_scalar(kind, element.text or "")
    if values:
        return [v.text or "" for v in values]
    return "".join(element.itertext())


# -- the multistatus ------------------------------------------------------------------------

_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def url_for(base_url: str, path: str, folder: bool = False) -> str:
    """Absolute URL of a store path: spaces `%20`, `#` `%23`, non-ASCII as UTF-8 escapes."""
    url = base_url + quote(path, safe=_PATH_SAFE)
    return url + "/" if folder and not url.endswith("/") else url


def format_datetime(value: datetime) -> str:
    """`2009-08-24T15:00:00.000Z`: UTC with milliseconds (davmail-client §4.4)."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _text(value: str) -> str:
    return escape(_INVALID_XML.sub("\ufffd", value), {"\r": "&#13;"})


def _prefix(index: int) -> str:
    letters, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(97 + rest) + letters
    return letters


class MultiStatus:
    """Collects `a:response` entries, then renders them with the namespaces declared on the root.

    Args:
        base_url: `http://host:port`, prefixed to hrefs and `PathRef` values.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._entries: list[tuple[str, int | list[tuple[int, dict[str, object]]]]] = []
        self._namespaces: dict[str, str] = {DAV: "a", DT_NS: "b", MV_NS: "c"}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, path: str, groups: Iterable[tuple[int, dict[str, object]]],
            *, folder: bool = False) -> None:
        """One response: propstats as (status, {name: value}); a None value renders empty."""
        kept = [(status, props) for status, props in groups if props]
        for _, props in kept:
            for name in props:
                self._ns(split_name(name)[0])
        self._entries.append((url_for(self.base_url, path, folder), kept))

    def add_status(self, path: str, status: int, *, folder: bool = False) -> None:
        """One response with a plain `a:status` (batch methods, reference §5.5)."""
        self._entries.append((url_for(self.base_url, path, folder), status))

    def _ns(self, namespace: str) -> str:
        if namespace == "":
            return ""
        if namespace not in self._namespaces:
            index = len(self._namespaces)
            while _prefix(index).startswith("xml"):
                index += 1
            self._namespaces[namespace] = _prefix(index)
        return self._namespaces[namespace]

    def render(self) -> bytes:
        declared = "".join(f' xmlns:{p}="{_attr(ns)}"' for ns, p in self._namespaces.items())
        out = [f'<?xml version="1.0"?><a:multistatus{declared}>']
        for href, body in self._entries:
            out.append(f"<a:response><a:href>{_text(href)}</a:href>")
            if isinstance(body, int):
                out.append(f"<a:status>{_status(body)}</a:status>")
            for status, props in body if not isinstance(body, int) else ():
                out.append(f"<a:propstat><a:status>{_status(status)}</a:status><a:prop>")
                out.extend(self._element(name, value) for name, value in props.items())
                out.append("</a:prop></a:propstat>")
            out.append("</a:response>")
        out.append("</a:multistatus>")
        return "".join(out).encode("utf-8")

    def _element(self, name: str, value: object) -> str:
        namespace, local_name = split_name(name)
        prefix = self._ns(namespace)
        tag = f"{prefix}:{_encode_local(local_name)}" if prefix else _encode_local(local_name)
        if name == "DAV:resourcetype":
            inner = "<a:collection/>" if value == "collection" else ""
            return f"<{tag}>{inner}</{tag}>"
        kind, inner = _render_value(value, self.base_url)
        dt = f' b:dt="{kind}"' if kind else ""
        return f"<{tag}{dt}>{inner}</{tag}>" if inner or dt else f"<{tag}/>"


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _status(status: int) -> str:
    # Exchange words a missing property as "Resource Not Found" (not in the reference).
    return f"HTTP/1.1 {status} {'Resource Not Found' if status == 404 else REASONS.get(status, '')}"


def _scalar(value: object, base_url: str) -> tuple[str | None, str]:
    if value is None:
        return None, ""
    if isinstance(value, PathRef):
        return None, _text(url_for(base_url, value))
    if isinstance(value, bool):
        return "boolean", "1" if value else "0"
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, float):
        return "float", repr(value)
    if isinstance(value, datetime):
        return "dateTime.tz", format_datetime(value)
    if isinstance(value, bytes):
        return "bin.base64", base64.b64encode(value).decode("ascii")
    return None, _text(str(value))


def _render_value(value: object, base_url: str) -> tuple[str | None, str]:
    if isinstance(value, list | tuple):
        rendered = [_scalar(v, base_url) for v in value]
        kind = next((k for k, _ in rendered if k), "string")
        return f"mv.{kind}", "".join(f"<c:v>{inner}</c:v>" for _, inner in rendered)
    return _scalar(value, base_url)

