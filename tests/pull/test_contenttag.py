"""Parsing the folders' contenttags from one multistatus (pure)."""

from __future__ import annotations

from bridge.exchange import webdav
from bridge.pull import contenttag

BODY = b"""<?xml version="1.0"?>
<a:multistatus xmlns:a="DAV:" xmlns:r="http://schemas.microsoft.com/repl/">
<a:response><a:href>http://ex.example.com/exchange/hans/Kalender/</a:href>
<a:propstat><a:status>HTTP/1.1 200 OK</a:status><a:prop><r:contenttag>"2"</r:contenttag>
</a:prop></a:propstat></a:response>
<a:response><a:href>/exchange/hans/Posteingang/</a:href>
<a:propstat><a:status>HTTP/1.1 200 OK</a:status><a:prop><r:contenttag>"7"</r:contenttag>
</a:prop></a:propstat></a:response>
<a:response><a:href>/exchange/hans/Entw%C3%BCrfe/</a:href>
<a:propstat><a:status>HTTP/1.1 404 Not Found</a:status><a:prop><r:contenttag/></a:prop>
</a:propstat></a:response>
</a:multistatus>"""


def test_localized_folders_are_found_by_their_discovered_urls() -> None:
    tags = contenttag.parse_tags(webdav.parse_multistatus(BODY),
                                 "http://ex.example.com/exchange/hans/Kalender",
                                 "http://ex.example.com/exchange/hans/Posteingang")
    assert tags == contenttag.FolderTags('"2"', '"7"')


def test_moved_compares_each_folder_and_an_unreadable_tag_counts_as_moved() -> None:
    before = contenttag.FolderTags("1", "1")
    assert contenttag.moved(None, before) == (True, True)
    assert contenttag.moved(before, contenttag.FolderTags("1", "2")) == (False, True)
    assert contenttag.moved(before, contenttag.FolderTags(None, "1")) == (True, False)
