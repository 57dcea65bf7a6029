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
import tempfile
from collections.abc import Awaitable, Callable
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
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.settings import Settings
from store.models import DashboardToken, Person, Role
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
from store.upsert import insert_ignore

COOKIE = "visitbot_dash"
SESSION_HOURS = 8
LOGIN_MINUTES = 15
MONTHS_FROM, MONTHS_TO = 2000, 2100
DOWNLOADS = {"pdf": "application/pdf",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
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


def _token_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


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
        claims = self._session(request)
        return int(claims["p"]) if claims else None

    def _session(self, request: Request) -> dict[str, Any] | None:
        """The session cookie's claims, if it is signed, unexpired and not logged out."""
        token = request.cookies.get(COOKIE)
        if not token or self.settings.web_secret is None:
            return None
        claims = verify(_secret(self.settings), "session", token, self._now())
        if not claims or not isinstance(claims.get("s"), str) or not isinstance(
                claims.get("p"), int):
            return None  # cookies from before sessions could end are not taken
        with self.sessions() as s:
            ended = s.scalar(select(DashboardToken.kind).where(
                DashboardToken.token_hash == _token_hash(claims["s"])))
        return None if ended is not None else claims

    def _html(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(**ctx), status_code=status)

    def _month(self, request: Request) -> Month:
        text = request.query_params.get("month")
        if text:
            month = Month.parse(text)
            # the page links the month before and after: 9999-12 has no after
            if not MONTHS_FROM <= month.year <= MONTHS_TO:
                raise ValueError(f"month out of range: {text!r}")
            return month
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
            "p": claims["p"], "s": secrets.token_urlsafe(16),
            "exp": int((self._now() + timedelta(hours=SESSION_HOURS)).timestamp())})
        resp = RedirectResponse("/dashboard", status_code=303)
        resp.set_cookie(COOKIE, cookie, max_age=SESSION_HOURS * 3600, httponly=True,
                        samesite="lax", path="/dashboard",
                        secure=(self.settings.public_url or "").startswith("https://"))
        return resp

    def _redeem(self, claims: dict[str, Any]) -> bool:
        """One use per link, however many requests bring it at once: the link's row is
        inserted by exactly one of them (its unique key), a check-then-insert was not."""
        nonce = str(claims.get("n", ""))
        person_id = int(claims["p"])
        with self.sessions() as s:
            if not nonce or not officer_roots(s, person_id):
                return False
            if not insert_ignore(s, DashboardToken.__table__, {
                    "token_hash": _token_hash(nonce), "kind": "login", "person_id": person_id,
                    "expires_at": datetime.fromtimestamp(int(claims["exp"]), UTC),
                    "at": self._now()}):
                return False
            audit(s, person_id, "dashboard_login", nonce=nonce)
            s.commit()
        return True

    async def logout(self, request: Request) -> Response:
        claims = await asyncio.to_thread(self._session, request)
        if claims is not None:  # the cookie stops working, not only leaves this browser
            await asyncio.to_thread(self._end_session, claims)
        resp = RedirectResponse("/dashboard/bye", status_code=303)
        resp.delete_cookie(COOKIE, path="/dashboard")
        return resp

    def _end_session(self, claims: dict[str, Any]) -> None:
        with self.sessions() as s:
            insert_ignore(s, DashboardToken.__table__, {
                "token_hash": _token_hash(claims["s"]), "kind": "logout",
                "person_id": int(claims["p"]),
                "expires_at": datetime.fromtimestamp(int(claims["exp"]), UTC),
                "at": self._now()})
            s.commit()

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
        if fmt not in DOWNLOADS:
            return self._html("message.html.j2", 400, title="格式无效",
                              text="月汇总可下载 xlsx 或 pdf。")
        try:
            month = self._month(request)
        except ValueError:
            return self._html("message.html.j2", 400, title="月份无效", text="月份格式：YYYY-MM")
        got = await asyncio.to_thread(self._export, person, month, fmt)
        if got is None:
            return self._html("message.html.j2", 403, title="无权限", text="您不是辖区工作人员。")
        name, data = got
        return Response(data, media_type=DOWNLOADS[fmt], headers={
            "Content-Disposition": f"attachment; filename*=utf-8''{quote(name)}"})

    def _export(self, person_id: int, month: Month, fmt: str) -> tuple[str, bytes] | None:
        """The file's name and bytes; its folder is gone before the answer is sent, even
        when the export fails or the client goes away mid-download."""
        with self.sessions() as s, tempfile.TemporaryDirectory(prefix="visitbot-dash-") as d:
            roots = officer_roots(s, person_id)
            if not roots:
                return None
            scope = load_scope(s, roots)
            path = Path(d) / f"月汇总-{scope.title}-{month.key}.{fmt}"
            done = export_monthly(s, roots, month, fmt, path, actor_id=person_id,
                                  tz=self.settings.timezone, progress=False)
            return done.name, done.read_bytes()

    async def chart(self, request: Request) -> Response:
        person = self._person(request)
        if person is None:
            return Response(status_code=401)
        try:
            month = self._month(request)
        except ValueError:
            return Response("month: YYYY-MM", status_code=400)
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


# No script, no frame, no sniffing: the pages are server-rendered HTML with one inline
# style block, forms that post to themselves and images from here.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; script-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the login link's token must not leak onwards
    "Cache-Control": "no-store",
}


def _secured(endpoint: Callable[[Request], Awaitable[Response]]
             ) -> Callable[[Request], Awaitable[Response]]:
    async def wrapped(request: Request) -> Response:
        response = await endpoint(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return wrapped


def dashboard_routes(sessions: sessionmaker[Session], settings: Settings) -> list[BaseRoute]:
    d = Dashboard(sessions, settings)
    return [
        Route("/dashboard", _secured(d.page)),
        Route("/dashboard/login", _secured(d.login)),
        Route("/dashboard/logout", _secured(d.logout), methods=["POST"]),
        Route("/dashboard/bye", _secured(d.bye)),
        Route("/dashboard/monthly.{fmt:str}", _secured(d.download)),
        Route("/dashboard/chart/{name:str}.png", _secured(d.chart)),
    ]
