"""The dashboard in headless Chromium: login link → cookie → page with the right numbers."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from bot.settings import load_settings
from bot.web.dashboard import dashboard_routes, login_link
from store.models import AuditEntry
from store.reports.period import Month, today_in
from store.reports.queries import load_scope, monthly_figures
from tests.integration.test_report_monthly import build_world

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SHOTS = Path(os.environ.get("VISITBOT_SCREENSHOTS", "/tmp/visitbot-screenshots"))


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        browser = None
    if not browser or not driver:
        if IN_CI:
            pytest.fail("CI=true but chromium, chromedriver or selenium is missing")
        pytest.skip("headless Chromium not available")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(sessions: sessionmaker[Session]) -> Iterator[tuple[str, object]]:
    port = _free_port()
    settings = load_settings(web_secret="test-secret-0123456789", host="127.0.0.1", port=port,
                             database_url="sqlite://")
    app = Starlette(routes=dashboard_routes(sessions, settings))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                        access_log=False))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", settings
    srv.should_exit = True
    t.join(5)


def test_dashboard_shows_the_officers_numbers(sessions: sessionmaker[Session], server,  # type: ignore[no-untyped-def]
                                              tmp_path: Path) -> None:
    browser, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    base, settings = server
    with sessions() as s:
        ids = build_world(s)
        month = Month.of(today_in())
        figs = monthly_figures(s, load_scope(s, [ids["东镇"]]), month, today_in())
    link = login_link(settings, ids["officer"], datetime.now(UTC))
    assert link.startswith(base)

    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        drv.get(base + "/dashboard")
        assert "请登录" in drv.page_source
        drv.get(link)
        assert drv.current_url.endswith("/dashboard")
        assert drv.find_element(By.ID, "kpi-subjects").text == str(figs.total.subjects)
        assert drv.find_element(By.ID, "kpi-due").text == str(figs.total.due)
        cov = figs.total.coverage
        assert drv.find_element(By.ID, "kpi-coverage").text == (
            "—" if cov is None else f"{cov * 100:.1f}%")
        rows = drv.find_elements(By.CSS_SELECTOR, "#coverage tbody tr[data-village]")
        towns = {r.get_attribute("data-town") for r in rows}
        assert towns == {"东镇"}  # the officer sees only their own township
        for r in figs.villages:
            if not r.village:
                continue
            tr = drv.find_element(By.CSS_SELECTOR, f'#coverage tr[data-village="{r.village}"]')
            assert tr.find_element(By.CLASS_NAME, "subjects").text == str(r.counts.subjects)
            assert tr.find_element(By.CLASS_NAME, "visited").text == str(
                r.counts.visited_subjects)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / "dashboard.png"
        assert drv.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        # The link is one-time: a second use is refused.
        drv.delete_all_cookies()
        drv.get(link)
        assert "链接无效" in drv.page_source
    finally:
        drv.quit()
    with sessions() as s:
        assert s.query(AuditEntry).filter_by(action="dashboard_view").count() == 1
        assert s.query(AuditEntry).filter_by(action="dashboard_login").count() == 1
