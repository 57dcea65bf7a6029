"""A small read-only dashboard for the county office, served beside the webhooks.

Login without passwords: `visitbot dashboard login PHONE` prints a link holding a
short-lived, one-time token (HMAC-SHA256 with `web_secret`); opening it sets a signed
session cookie. Each officer sees only their own jurisdiction, and every page view and
download of subject data writes an AuditEntry.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.settings import Settings
from store.models import AuditEntry, Person, Role
from store.reports.audit import audit
from store.reports.monthly import export_monthly, officer_roots
from store.reports.overview import AGE_BUCKETS, open_cases, open_cases_by_age, overdue_visits
from store.reports.period import Month
from store.reports.queries import (
    SEVERITIES,
    SEVERITY_LABELS,
    count_not_visited,
    load_scope,
    monthly_figures,
    not_visited,
)

COOKIE = "visitbot_dash"
SESSION_HOURS = 8
LOGIN_MINUTES = 15
TEMPLATES = Path(__file__).parent / "dashboard_templates"
UNVISITED_LISTED = 300  # the rest are in the monthly workbook


# --- signed tokens -----------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, purpose: str, claims: dict[str, Any]) -> str:
    """payload.mac; the purpose is inside the MAC, so a login token is no session cookie."""
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(secret: str, purpose: str, token: str, now: datetime) -> dict[str, Any] | None:
    try:
        body, mac = token.split(".", 1)
        want = hmac.new(secret.encode(), f"{purpose}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, _unb64(mac)):
            return None
        claims = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError):
        return None
    if not isinstance(claims, dict) or claims.get("exp", 0) < now.timestamp():
        return None
    return claims


def _secret(settings: Settings) -> str:
    if settings.web_secret is None or not settings.web_secret.get_secret_value():
        raise RuntimeError("set VISITBOT_WEB_SECRET to use the dashboard")
    return settings.web_secret.get_secret_value()


def officer_by_phone(session: Session, phone: str) -> Person:
    person = session.scalar(
        select(Person).join(Role, Role.person_id == Person.id)
        .where(Person.phone == phone.strip(), Role.role == "officer").limit(1))
    if person is None:
        raise LookupError(f"no officer with phone {phone}")
    return person


def login_link(settings: Settings, person_id: int, now: datetime,
               minutes: int = LOGIN_MINUTES) -> str:
    token = sign(_secret(settings), "login", {
        "p": person_id, "exp": int((now + timedelta(minutes=minutes)).timestamp()),
        "n": secrets.token_urlsafe(9)})
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    return f"{base}/dashboard/login?token={quote(token)}"


# --- pages ------------------------------------------------------------------------------------


def _env() -> Environment:
    e = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                    autoescape=select_autoescape(["html", "j2"]))
    e.filters["pct"] = lambda v: "—" if v is None else f"{v * 100:.1f}%"
    return e


@dataclass
class Dashboard:
    sessions: sessionmaker[Session]
    settings: Settings

    def __post_init__(self) -> None:
        self.env = _env()
        self.tz = ZoneInfo(self.settings.timezone)

    # every handler runs its database work in a thread: the core is synchronous
    def _now(self) -> datetime:
        return datetime.now(UTC)

    def _person(self, request: Request) -> int | None:
        token = request.cookies.get(COOKIE)
        if not token or self.settings.web_secret is None:
            return None
        claims = verify(_secret(self.settings), "session", token, self._now())
        return int(claims["p"]) if claims else None

    def _html(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(**ctx), status_code=status)

    def _month(self, request: Request) -> Month:
        text = request.query_params.get("month")
        if text:
            return Month.parse(text)
        return Month.of(self._now().astimezone(self.tz).date())

    async def login(self, request: Request) -> Response:
        if self.settings.web_secret is None:
            return self._html("message.html.j2", 503, title="未启用",
                              text="管理员尚未设置 VISITBOT_WEB_SECRET，看板未启用。")
        claims = verify(_secret(self.settings), "login", request.query_params.get("token", ""),
                        self._now())
        if claims is None or not await asyncio.to_thread(self._redeem, claims):
            return self._html("message.html.j2", 401, title="链接无效",
                              text="登录链接无效、已过期或已使用。请重新运行 "
                                   "visitbot dashboard login 手机号 获取新链接。")
        cookie = sign(_secret(self.settings), "session", {
            "p": claims["p"],
            "exp": int((self._now() + timedelta(hours=SESSION_HOURS)).timestamp())})
        resp = RedirectResponse("/dashboard", status_code=303)
        resp.set_cookie(COOKIE, cookie, max_age=SESSION_HOURS * 3600, httponly=True,
                        samesite="lax", path="/dashboard",
                        secure=(self.settings.public_url or "").startswith("https://"))
        return resp

    def _redeem(self, claims: dict[str, Any]) -> bool:
        """One use per link: the audit log is the record of used nonces."""
        nonce = str(claims.get("n", ""))
        with self.sessions() as s:
            used = s.scalar(select(AuditEntry.id).where(
                AuditEntry.action == "dashboard_login",
                AuditEntry.detail == json.dumps({"nonce": nonce})).limit(1))
            if used is not None or not officer_roots(s, int(claims["p"])):
                return False
            audit(s, int(claims["p"]), "dashboard_login", nonce=nonce)
            s.commit()
        return True

    async def logout(self, request: Request) -> Response:
        resp = RedirectResponse("/dashboard/bye", status_code=303)
        resp.delete_cookie(COOKIE, path="/dashboard")
        return resp

    async def bye(self, request: Request) -> Response:
        return self._html("message.html.j2", title="已退出", text="您已退出看板。")

    async def page(self, request: Request) -> Response:
        person = self._person(request)
        if person is None:
            return self._html("message.html.j2", 401, title="请登录",
                              text="请运行 visitbot dashboard login 手机号 获取登录链接。")
        try:
            month = self._month(request)
        except ValueError:
            return self._html("message.html.j2", 400, title="月份无效", text="月份格式：YYYY-MM")
        ctx = await asyncio.to_thread(self._page_data, person, month)
        if ctx is None:
            return self._html("message.html.j2", 403, title="无权限", text="您不是辖区工作人员。")
        return self._html("dashboard.html.j2", **ctx)

    def _page_data(self, person_id: int, month: Month) -> dict[str, Any] | None:
        now = self._now()
        today = now.astimezone(self.tz).date()
        with self.sessions() as s:
            roots = officer_roots(s, person_id)
            if not roots:
                return None
            scope = load_scope(s, roots)
            as_of = min(today, month.next_first)
            figures = monthly_figures(s, scope, month, as_of, self.settings.timezone)
            overdue_total, overdue = overdue_visits(s, scope, today)
            cases = open_cases_by_age(s, scope, now)
            # the officer's first screen: the open cases, then who was not visited
            cases_total, case_list = open_cases(s, scope, now)
            unvisited_total = count_not_visited(s, scope, month)
            unvisited = list(islice(not_visited(s, scope, month), UNVISITED_LISTED))
            name = s.get(Person, person_id)
            audit(s, person_id, "dashboard_view", None, scope=roots, month=month.key,
                  overdue_listed=len(overdue), cases_listed=len(case_list),
                  not_visited_listed=len(unvisited))
            s.commit()
        return {"f": figures, "month": month, "prev": month.shift(-1), "next": month.shift(1),
                "overdue_total": overdue_total, "overdue": overdue, "cases": cases,
                "severities": SEVERITIES, "sev_labels": SEVERITY_LABELS,
                "buckets": [b[0] for b in AGE_BUCKETS], "officer": name.name if name else "",
                "today": today, "cases_total": cases_total, "case_list": case_list,
                "unvisited_total": unvisited_total, "unvisited": unvisited,
                "path": scope.path}

    async def download(self, request: Request) -> Response:
        person = self._person(request)
        if person is None:
            return RedirectResponse("/dashboard", status_code=303)
        fmt = request.path_params["fmt"]
        try:
            month = self._month(request)
        except ValueError:
            return self._html("message.html.j2", 400, title="月份无效", text="月份格式：YYYY-MM")
        folder = Path(tempfile.mkdtemp(prefix="visitbot-dash-"))
        path = await asyncio.to_thread(self._export, person, month, fmt, folder)
        if path is None:
            shutil.rmtree(folder, ignore_errors=True)
            return self._html("message.html.j2", 403, title="无权限", text="您不是辖区工作人员。")
        media = ("application/pdf" if fmt == "pdf" else
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        return FileResponse(path, media_type=media, filename=path.name,
                            background=BackgroundTask(shutil.rmtree, folder, True))

    def _export(self, person_id: int, month: Month, fmt: str, folder: Path) -> Path | None:
        with self.sessions() as s:
            roots = officer_roots(s, person_id)
            if not roots:
                return None
            scope = load_scope(s, roots)
            path = folder / f"月汇总-{scope.title}-{month.key}.{fmt}"
            return export_monthly(s, roots, month, fmt, path, actor_id=person_id,
                                  tz=self.settings.timezone, progress=False)

    async def chart(self, request: Request) -> Response:
        person = self._person(request)
        if person is None:
            return Response(status_code=401)
        month = self._month(request)
        png = await asyncio.to_thread(self._chart, person, month, request.path_params["name"])
        if png is None:
            return Response(status_code=404)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private"})

    def _chart(self, person_id: int, month: Month, name: str) -> bytes | None:
        from store.reports.charts import case_history, cases_png, coverage_history, coverage_png

        with self.sessions() as s:
            roots = officer_roots(s, person_id)
            if not roots or name not in ("coverage", "cases"):
                return None
            scope = load_scope(s, roots)
            if name == "coverage":
                return coverage_png(coverage_history(s, scope, month))
            return cases_png(case_history(s, scope, month, tz=self.settings.timezone))


def dashboard_routes(sessions: sessionmaker[Session], settings: Settings) -> list[BaseRoute]:
    d = Dashboard(sessions, settings)
    return [
        Route("/dashboard", d.page),
        Route("/dashboard/login", d.login),
        Route("/dashboard/logout", d.logout, methods=["POST"]),
        Route("/dashboard/bye", d.bye),
        Route("/dashboard/monthly.{fmt:str}", d.download),
        Route("/dashboard/chart/{name:str}.png", d.chart),
    ]
