"""The dashboard's login, session, headers and errors under attack (issue #19): a one-time
link redeemed once by 16 parallel requests on PostgreSQL, a session cookie dead after
logout, security headers on every answer, no URL answered 500, no folder left behind."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.settings import load_settings
from bot.web.dashboard import COOKIE, SECURITY_HEADERS, dashboard_routes, login_link
from store.db import make_engine, session_factory
from tests.fakes.wechat_server import ServerThread
from tests.integration.test_report_monthly import build_world

SECRET = "test-secret-0123456789"


def _settings(port: int = 8080):  # type: ignore[no-untyped-def]
    return load_settings(web_secret=SECRET, host="127.0.0.1", port=port)


@pytest.fixture
def dash(sessions: sessionmaker[Session]) -> Iterator[tuple[TestClient, int]]:
    with sessions() as s:
        ids = build_world(s)
        s.commit()
    app = Starlette(routes=dashboard_routes(sessions, _settings()))
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        yield client, ids["officer"]


def _login(client: TestClient, officer: int) -> str:
    link = login_link(_settings(), officer, datetime.now(UTC))
    r = client.get(link, follow_redirects=False)
    assert r.status_code == 303
    return str(r.cookies[COOKIE])


def test_session_cookie_dead_after_logout(dash: tuple[TestClient, int]) -> None:
    client, officer = dash
    cookie = _login(client, officer)
    client.cookies.clear()
    assert client.get("/dashboard", cookies={COOKIE: cookie}).status_code == 200
    out = client.post("/dashboard/logout", cookies={COOKIE: cookie}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()
    # a copy of the cookie (another browser, a stolen one) no longer opens anything
    assert client.get("/dashboard", cookies={COOKIE: cookie}).status_code == 401
    assert client.get("/dashboard/chart/coverage.png",
                      cookies={COOKIE: cookie}).status_code == 401


def test_headers_and_no_500_on_any_dashboard_url(dash: tuple[TestClient, int]) -> None:
    client, officer = dash
    cookie = _login(client, officer)
    client.cookies.clear()
    months = [None, "bad", "9999-12", "0000-01", "2026-13", "2026-00", "2026-1", "",
              "2026-11", "１２３４-１２", "2026-11-01", "9" * 400, "-1-01", "%00"]
    paths = ["/dashboard", "/dashboard/chart/coverage.png", "/dashboard/chart/cases.png",
             "/dashboard/chart/other.png", "/dashboard/monthly.csv",
             "/dashboard/monthly.html", "/dashboard/monthly.xlsx", "/dashboard/monthly.",
             "/dashboard/login", "/dashboard/bye"]
    seen: dict[int, int] = {}
    for path in paths:
        for month in months:
            if path.endswith(".xlsx") and month not in (None, "2026-11"):
                continue
            for jar in ({COOKIE: cookie}, {COOKIE: "garbage.x"}, {}):
                params = {} if month is None else {"month": month}
                r = client.get(path, params=params, cookies=jar, follow_redirects=False)
                seen[r.status_code] = seen.get(r.status_code, 0) + 1
                assert r.status_code < 500, (path, month, r.status_code)
                if r.status_code == 404 and r.text == "Not Found":
                    continue  # no route: the router's own answer
                for name in SECURITY_HEADERS:
                    assert name in r.headers, (path, name)
    for token in ("", "x", "a.b", "a" * 5000, "..", "\u00e9.\u00e9"):
        assert client.get("/dashboard/login", params={"token": token}).status_code == 401
    assert client.post("/dashboard/logout", cookies={COOKIE: "x.y"},
                       follow_redirects=False).status_code == 303
    assert seen.get(400, 0) > 0 and seen.get(200, 0) > 0  # both kinds were reached
    for month in ("bad", "9999-12"):
        r = client.get("/dashboard/chart/coverage.png", params={"month": month},
                       cookies={COOKIE: cookie})
        assert r.status_code == 400
    for fmt in ("csv", "html"):
        r = client.get(f"/dashboard/monthly.{fmt}", cookies={COOKIE: cookie})
        assert r.status_code == 400 and "xlsx" in r.text


def test_downloads_leave_no_folder(dash: tuple[TestClient, int], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client, officer = dash
    cookie = _login(client, officer)
    client.cookies.clear()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    r = client.get("/dashboard/monthly.xlsx", params={"month": "2026-11"},
                   cookies={COOKIE: cookie})
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert "attachment" in r.headers["content-disposition"]
    assert list(tmp.iterdir()) == []


@pytest.mark.postgres
def test_login_link_redeemed_once_by_16_parallel_requests(pg_url: str) -> None:
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    with sessions() as s:
        ids = build_world(s)
        s.commit()
    app = Starlette(routes=dashboard_routes(sessions, _settings()))
    try:
        with ServerThread(app) as server:
            link = login_link(_settings(server.port), ids["officer"], datetime.now(UTC))
            start = threading.Barrier(16)
            statuses: list[int] = []

            def redeem() -> None:
                with httpx.Client(timeout=30) as c:
                    start.wait()
                    statuses.append(c.get(link, follow_redirects=False).status_code)

            threads = [threading.Thread(target=redeem) for _ in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert sorted(statuses) == [303] + [401] * 15
    finally:
        engine.dispose()
