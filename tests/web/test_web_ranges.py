"""A download's ``Range`` header, as HTTP reads it (RFC 9110 §14): another unit or an
invalid set is ignored (the whole file, 200), a set of which the file holds no byte is a
416 in kinko's own error page with ``Content-Range: bytes */size``; never the framework's
plain-text 400 or a 5xx. Trace files, reports and the static files alike."""

from __future__ import annotations

import pytest
from dashboard_site import Site
from fastapi.testclient import TestClient

from kinko.api.ranges import byte_ranges
from kinko.domain.messages import msg
from kinko.errors import RangeNotSatisfiable
from kinko.services.artifacts import Artifacts

BODY = bytes(range(48, 58)) * 10  # 100 bytes: "0123456789" ten times

IGNORED = ["items=0-5", "bytes=abc", "bytes=5-1", "bytes=0-4,9-2", "bytes=", "bytes",
           "bytes=-", "bytes=,", "bytes=1_0-20", "bytes=+1-5", "bytes=--5", "bytes=0x1-5",
           "bytes=0 - 5", "bytes =0-5", "bytes=\u00b2-5", "bytes=0-5;x", "=0-5",
           "bytes=" + ",".join(f"{n}-{n}" for n in range(101)),
           "bytes=" + "9" * 5000 + "-1"]


def _files(site: Site) -> list[str]:
    """A trace's file, a report's and a static file, 100 bytes each but the last."""
    artifacts = Artifacts(site.ledger.store, site.clock)
    trace, report = site.data_dir / "t1", site.data_dir / "r1"
    for folder in (trace, report):
        folder.mkdir(parents=True)
    (trace / "flows.csv").write_bytes(BODY)
    (report / "fsa-report.en.html").write_bytes(BODY)
    t = artifacts.record("trace", msg("artifact.trace", policy=msg("tr.policy.fifo")),
                         trace, by="ops")
    r = artifacts.record("fsa", msg("artifact.fsa", lang=msg("lang.en")), report, by="ops")
    return [f"/trace/{t['id']}/flows.csv", f"/reports/{r['id']}/fsa-report.en.html"]


@pytest.fixture
def client(site: Site) -> TestClient:
    return site.client("ops")


def test_a_range_of_another_unit_or_invalid_is_ignored(site: Site, client: TestClient
                                                       ) -> None:
    for url in _files(site):
        for wanted in IGNORED:
            r = client.get(url, headers={"Range": wanted.encode("latin-1")})
            assert r.status_code == 200, (url, wanted, r.status_code, r.text[:200])
            assert r.content == BODY and "content-range" not in r.headers, (url, wanted)
        head = client.head(url, headers={"Range": "items=0-5"})
        assert head.status_code == 200 and head.headers["content-length"] == "100"
    static = client.get("/static/kinko.css")
    for wanted in ("items=0-5", "bytes=abc", "bytes=5-1"):
        r = client.get("/static/kinko.css", headers={"Range": wanted})
        assert r.status_code == 200 and r.content == static.content, wanted


def test_ranges_the_file_holds_are_served(site: Site, client: TestClient) -> None:
    url = _files(site)[0]
    for wanted, part, served in (("bytes=0-4", b"01234", "bytes 0-4/100"),
                                 ("BYTES=-3", b"789", "bytes 97-99/100"),
                                 ("bytes=95-5000", b"56789", "bytes 95-99/100"),
                                 ("bytes=0-4, 2-9,,", b"0123456789", "bytes 0-9/100"),
                                 ("bytes=-500", BODY, "bytes 0-99/100"),
                                 ("bytes=0-1,500-", b"01", "bytes 0-1/100"),
                                 ("bytes=" + "0" * 40 + "1-2", b"12", "bytes 1-2/100")):
        r = client.get(url, headers={"Range": wanted})
        assert r.status_code == 206, (wanted, r.text[:200])
        assert r.content == part and r.headers["content-range"] == served, wanted
    two = client.get(url, headers={"Range": "bytes=0-1,10-11"})
    assert two.status_code == 206
    assert two.headers["content-type"].startswith("multipart/byteranges")
    assert b"Content-Range: bytes 10-11/100" in two.content


def test_a_download_the_browser_already_holds_is_a_304(site: Site, client: TestClient
                                                       ) -> None:
    """If-None-Match naming the file's ETag was answered 200 with the whole file."""
    for url in _files(site):
        etag = client.get(url).headers["etag"]
        for condition in (etag, f'"x", W/{etag}', "*"):
            r = client.get(url, headers={"If-None-Match": condition, "Range": "bytes=0-4"})
            assert r.status_code == 304 and r.content == b"", (url, condition)
            assert r.headers["etag"] == etag
        r = client.get(url, headers={"If-None-Match": '"another"'})
        assert r.status_code == 200 and r.content == BODY
        assert client.head(url, headers={"If-None-Match": etag}).status_code == 304


def test_a_range_the_file_does_not_hold_is_a_416_page(site: Site, client: TestClient
                                                      ) -> None:
    url = _files(site)[0]
    for wanted in ("bytes=100-", "bytes=500-600", "bytes=-0", "bytes=100-,200-300",
                   "bytes=" + "9" * 5000 + "-"):
        r = client.get(f"{url}?lang=en", headers={"Range": wanted})
        assert r.status_code == 416, (wanted, r.text[:200])
        assert r.headers["content-range"] == "bytes */100"
        assert r.headers["content-type"].startswith("text/html")
        assert "lies in the file (100 bytes)" in r.text and "<html" in r.text
    ja = client.get(f"{url}?lang=ja", headers={"Range": "bytes=100-"})
    assert ja.status_code == 416 and "ファイル（100 バイト）の中にありません" in ja.text
    # a validator of another file: the whole file, whatever the Range asks
    r = client.get(url, headers={"Range": "bytes=500-", "If-Range": '"other"'})
    assert r.status_code == 200 and r.content == BODY


def test_an_empty_file_is_served_whole_whatever_the_range() -> None:
    assert byte_ranges("bytes=0-5", 0) is None and byte_ranges("bytes=-5", 0) is None
    with pytest.raises(RangeNotSatisfiable) as refused:
        byte_ranges("bytes=10-", 10)
    assert refused.value.size == 10 and refused.value.http_status == 416
    assert byte_ranges("bytes=0-0,1-1,5-", 10) == [(0, 2), (5, 10)]
