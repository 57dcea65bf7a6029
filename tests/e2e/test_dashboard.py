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
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from bot.settings import load_settings
from bot.web.dashboard import dashboard_routes, login_link
from store.models import Alert, AuditEntry, Case, OutboxMessage, Person
from store.reports.period import Month, today_in
from store.reports.queries import SEVERITY_LABELS, load_scope, monthly_figures
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
        scope = load_scope(s, [ids["东镇"]])
        figs = monthly_figures(s, scope, month, today_in())
        # one open case of 东镇 has a finding whose alert went to the officer
        listed = s.scalars(select(Case).join(Person, Person.id == Case.subject_id).where(
            Person.jurisdiction_id.in_(scope.ids), Case.status.in_(("open", "acked")))).all()
        assert listed
        alerted = listed[0]
        alert = Alert(case_id=alerted.id, display="燃气安全：较差", severity=alerted.severity)
        s.add(alert)
        s.flush()
        s.add(OutboxMessage(idempotency_key=f"alert:{alert.id}:{ids['officer']}:0",
                            person_id=ids["officer"], platform="console", external_id="o",
                            kind="alert", payload={"text": "x"}, status="sent",
                            created_at=alerted.opened_at))
        subject_of = {c.id: s.get(Person, c.subject_id).name for c in listed}  # type: ignore[union-attr]
        s.commit()
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
        # The first screen: the open cases, each with who, what, since when, who has it.
        first = drv.find_element(By.CSS_SELECTOR, "main > section")
        assert first.get_attribute("id") == "open-cases-section"
        rows = drv.find_elements(By.CSS_SELECTOR, "#open-cases tbody tr[data-case]")
        assert {int(r.get_attribute("data-case") or 0) for r in rows} == set(subject_of)
        for r in rows:
            assert r.find_element(By.CLASS_NAME, "subject").text == subject_of[
                int(r.get_attribute("data-case") or 0)]
            assert r.find_element(By.CLASS_NAME, "severity").text in SEVERITY_LABELS.values()
            assert r.find_element(By.CLASS_NAME, "age").text.endswith("天")
        row = drv.find_element(By.CSS_SELECTOR, f'#open-cases tr[data-case="{alerted.id}"]')
        assert row.find_element(By.CLASS_NAME, "finding").text == "燃气安全：较差"
        assert row.find_element(By.CLASS_NAME, "assignee").text == "镇干部乙（待确认）"
        assert row.find_element(By.CLASS_NAME, "delivery").text == "已送达 1"
        assert row.find_element(By.CLASS_NAME, "village").text in ("东一村", "东二村")
        # then coverage by village with the 未访 list, then the charts on the page
        order = [e.get_attribute("id") for e in drv.find_elements(
            By.CSS_SELECTOR, "#open-cases-section, #coverage, #unvisited, #charts")]
        assert order == ["open-cases-section", "coverage", "unvisited", "charts"]
        assert drv.find_element(By.ID, "unvisited-total").text == str(
            figs.total.subjects - figs.total.visited_subjects)
        for img in drv.find_elements(By.CSS_SELECTOR, "#charts img"):
            assert drv.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth", img) > 100
        # 退出 is readable: not white on the browser's light grey button face
        logout = drv.find_element(By.CSS_SELECTOR, "header button")
        assert drv.execute_script(
            "return getComputedStyle(arguments[0]).backgroundColor", logout) in (
            "rgba(0, 0, 0, 0)", "transparent")
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
        drv.set_window_size(1400, 2400)  # the whole first screen and what follows
        assert drv.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
        # The link is one-time: a second use is refused.
        drv.delete_all_cookies()
        drv.get(link)
        assert "链接无效" in drv.page_source
    finally:
        drv.quit()
    with sessions() as s:
        assert s.query(AuditEntry).filter_by(action="dashboard_view").count() == 1
        assert s.query(AuditEntry).filter_by(action="dashboard_login").count() == 1


def test_reports_and_alert_messages_name_severities_alike() -> None:
    """The dashboard, charts and monthly PDF say what the alert messages say (高风险)."""
    from bot.alerts.cases import SEVERITY_LABEL

    assert SEVERITY_LABELS == SEVERITY_LABEL
