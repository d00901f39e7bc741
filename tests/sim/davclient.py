"""TEST-ONLY WebDAV helper: inspect mailboxes over HTTP the way an administrator's client would.

Built on `requests` and defusedxml from the reference alone (it shares no code with the bridge's
client or with the simulator). `parse_multistatus` returns {href: {status: {name: value}}}, with
values typed by their `dt` attribute (dateTime.tz → aware datetime, int, boolean, mv.* → list).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from urllib.parse import urljoin
from xml.sax.saxutils import escape

import defusedxml.ElementTree as ET
import requests

__all__ = [
    "FOLDER_ROLES",
    "items_in",
    "login_fba",
    "parse_multistatus",
    "propfind",
    "proppatch",
    "search",
]

DAV = "DAV:"
DT = "urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/"
FOLDER_ROLES = ("inbox", "calendar", "drafts", "sentitems", "deleteditems", "outbox", "tasks",
                "contacts", "sendmsg")
LISTING = ("DAV:displayname", "DAV:getetag", "DAV:contentclass", "urn:schemas:httpmail:subject",
           "http://schemas.microsoft.com/exchange/outlookmessageclass",
           "urn:schemas:calendar:uid", "urn:schemas:calendar:dtstart",
           "urn:schemas:calendar:dtend", "urn:schemas:calendar:instancetype")


def login_fba(session: requests.Session, base_url: str, user: str, password: str
              ) -> requests.Response:
    """The DavMail-style forms login (observed-traffic §3); returns the final OWA page."""
    first = session.get(base_url + "/exchange/", allow_redirects=False)
    if first.status_code != 302:
        raise AssertionError(f"expected 302 to the logon page, got {first.status_code}")
    page = session.get(first.headers["Location"], allow_redirects=False)
    forms = re.findall(r"<FORM\b[^>]*>.*?</FORM>", page.text, re.S | re.I)
    if len(forms) != 1:
        raise AssertionError(f"expected one form on the logon page, found {len(forms)}")
    action = re.search(r'action="([^"]+)"', forms[0], re.I)
    assert action is not None
    fields = dict(re.findall(r'<INPUT type="hidden" name="([^"]+)" value="([^"]*)"', forms[0],
                             re.I))
    fields.update(username=user, password=password, trusted="4", flags="4")
    posted = session.post(urljoin(page.url, action.group(1)), data=fields,
                          allow_redirects=False)
    if posted.status_code != 302:
        raise AssertionError(f"owaauth.dll answered {posted.status_code}")
    if "reason=2" in posted.headers.get("Location", "") or "cadata" not in session.cookies:
        raise PermissionError(f"logon of {user} refused")
    return session.get(posted.headers["Location"], allow_redirects=False)


def _typed(element: object) -> object:
    kind = next((v for k, v in element.attrib.items() if k.endswith("}dt")), None)  # type: ignore[attr-defined]
    if kind and kind.startswith("mv."):
        return [_scalar(kind[3:], v.text or "") for v in element]  # type: ignore[attr-defined]
    if kind:
        return _scalar(kind, element.text or "")  # type: ignore[attr-defined]
    if len(element):  # type: ignore[arg-type]
        return [child.tag for child in element]  # type: ignore[attr-defined]
    return element.text or ""  # type: ignore[attr-defined]


def _scalar(kind: str, text: str) -> object:
    if kind == "int":
        return int(text)
    if kind == "boolean":
        return text == "1"
    if kind == "float":
        return float(text)
    if kind == "dateTime.tz":
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    if kind == "bin.base64":
        return base64.b64decode(text)
    return text


def _name(tag: str) -> str:
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return namespace + re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), local)


def parse_multistatus(body: bytes) -> dict[str, dict[int, dict[str, object]]]:
    root = ET.fromstring(body, forbid_dtd=True)
    result: dict[str, dict[int, dict[str, object]]] = {}
    for response in root.findall(f"{{{DAV}}}response"):
        href = response.findtext(f"{{{DAV}}}href") or ""
        groups = result.setdefault(href, {})
        plain = response.findtext(f"{{{DAV}}}status")
        if plain:
            groups[int(plain.split()[1])] = {}
        for propstat in response.findall(f"{{{DAV}}}propstat"):
            status = int((propstat.findtext(f"{{{DAV}}}status") or "x 0").split()[1])
            prop = propstat.find(f"{{{DAV}}}prop")
            groups[status] = {_name(c.tag): _typed(c) for c in (prop if prop is not None else [])}
    return result


def _prop_elements(names: list[str] | tuple[str, ...]) -> str:
    out = []
    for name in names:
        cut = max(name.rfind(":"), name.rfind("/")) + 1
        out.append(f'<X:{name[cut:]} xmlns:X="{escape(name[:cut])}"/>')
    return "".join(out)


def propfind(session: requests.Session, url: str, props: list[str] | tuple[str, ...],
             depth: str = "0", *, brief: bool = False) -> requests.Response:
    body = (f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>{_prop_elements(props)}'
            "</D:prop></D:propfind>")
    headers = {"Depth": depth, "Content-Type": "text/xml"}
    if brief:
        headers["Brief"] = "t"
    return session.request("PROPFIND", url, data=body.encode(), headers=headers)


def _value(value: object) -> tuple[str, str]:
    if isinstance(value, bool):
        return ' T:dt="boolean"', "1" if value else "0"
    if isinstance(value, int):
        return ' T:dt="int"', str(value)
    if isinstance(value, datetime):
        return ' T:dt="dateTime.tz"', value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, list):
        return ' T:dt="mv.string"', "".join(f"<V:v>{escape(str(v))}</V:v>" for v in value)
    return "", escape(str(value))


def proppatch(session: requests.Session, url: str, values: dict[str, object],
              remove: tuple[str, ...] = (), headers: dict[str, str] | None = None
              ) -> requests.Response:
    """PROPPATCH with `dt`-typed values (bool, int, datetime, list[str] → mv.string)."""
    sets = []
    for name, value in values.items():
        cut = max(name.rfind(":"), name.rfind("/")) + 1
        attr, text = _value(value)
        sets.append(f'<X:{name[cut:]} xmlns:X="{escape(name[:cut])}"{attr}>{text}</X:{name[cut:]}>')
    body = (f'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:T="{DT}" '
            f'xmlns:V="xml:"><D:set><D:prop>{"".join(sets)}</D:prop></D:set>'
            + (f"<D:remove><D:prop>{_prop_elements(remove)}</D:prop></D:remove>" if remove else "")
            + "</D:propertyupdate>")
    return session.request("PROPPATCH", url, data=body.encode(),
                           headers={"Content-Type": "text/xml", **(headers or {})})


def search(session: requests.Session, folder_url: str, sql: str,
           headers: dict[str, str] | None = None) -> requests.Response:
    body = (f'<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:"><D:sql>{escape(sql)}'
            "</D:sql></D:searchrequest>")
    return session.request("SEARCH", folder_url, data=body.encode(),
                           headers={"Content-Type": "text/xml", **(headers or {})})


def items_in(session: requests.Session, folder_url: str,
             props: tuple[str, ...] = LISTING) -> list[dict[str, object]]:
    """The non-folder items of a folder (SEARCH, shallow), each a dict with "href" added."""
    columns = ",".join(f'"{p}"' for p in props)
    answer = search(session, folder_url,
                    f'SELECT {columns} FROM "" WHERE "DAV:isfolder" = false')  # noqa: S608
    if answer.status_code != 207:
        raise AssertionError(f"SEARCH {folder_url} answered {answer.status_code}")
    rows = []
    for href, groups in parse_multistatus(answer.content).items():
        rows.append({"href": href, **groups.get(200, {})})
    return rows
