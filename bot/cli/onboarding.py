"""Joining as people expect it: a QR code to scan for the 公众号, a t.me link for
Telegram, and the 公众号's own menu.

`visitbot invite PHONE --png FILE` creates a WeChat parametric QR code for the invite
(QR-code API, scene `CODE`: scanning it subscribes with EventKey `qrscene_CODE`, or sends
a SCAN event when already subscribed, both of which bind), asks Telegram for the bot's
username (getMe) for the `t.me/<bot>?start=CODE` link, and writes a PNG to print or send.
`visitbot wechat menu` installs the 公众号 custom menu (menu/create); each item is a click
whose key is a command word.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from bot.settings import Settings
from conversations.text import render

log = logging.getLogger(__name__)
# how long a WeChat invite QR code stays valid: WeChat allows at most 30 days
QR_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class InviteLinks:
    wechat_qr_url: str | None = None  # what WeChat's QR code encodes
    telegram_url: str | None = None
    problems: tuple[str, ...] = ()


async def invite_links(settings: Settings, sessions: Any, code: str) -> InviteLinks:
    """The invite's WeChat QR code and Telegram link, for the platforms configured."""
    qr_url, tg_url, problems = None, None, []
    if settings.wechat_app_id:
        from bot.channels.wechat_api import ApiReply
        from bot.channels.wechat_channel import WeChatChannel

        seconds = min(QR_SECONDS, settings.invite_ttl_hours * 3600)
        reply = await WeChatChannel(settings, sessions).api.post("qrcode/create", {
            "expire_seconds": seconds, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": code}}})
        if isinstance(reply, ApiReply) and reply.ok and reply.data.get("url"):
            qr_url = str(reply.data["url"])
        else:
            problems.append(f"微信二维码创建失败：{getattr(reply, 'errmsg', None) or reply}")
    if settings.telegram_token is not None:
        from bot.channels.telegram_api import TelegramApi

        username = await TelegramApi(settings).username()
        if username:
            tg_url = f"https://t.me/{username}?start={code}"
        else:
            problems.append("Telegram getMe 失败：无法得到机器人用户名")
    return InviteLinks(qr_url, tg_url, tuple(problems))


def write_png(data: str, path: Path) -> None:
    """A QR code of `data` as a PNG, large enough to print and scan from paper."""
    import segno

    segno.make(data, error="m").save(str(path), kind="png", scale=10, border=4)


def echo_invite(settings: Settings, sessions: Any, code: str, png: Path | None) -> None:
    links = asyncio.run(invite_links(settings, sessions, code))
    for problem in links.problems:
        click.echo(problem, err=True)
    click.echo(render("cli_invite", code=code, hours=settings.invite_ttl_hours,
                      wechat=links.wechat_qr_url, telegram=links.telegram_url))
    if png is not None:
        target = links.wechat_qr_url or links.telegram_url
        if target is None:
            raise click.ClickException("没有可用的平台生成二维码（请配置微信公众号或 Telegram）")
        write_png(target, png)
        click.echo(render("cli_invite_png", path=str(png),
                          wechat=links.wechat_qr_url is not None))


def menu_body() -> dict[str, Any]:
    """The 公众号 menu from the wechat_menu template: one line per top-level item, either
    a command word, or "名称：词 词 词" for a group (at most 3 items of 5 words)."""
    buttons: list[dict[str, Any]] = []
    for line in render("wechat_menu").splitlines():
        name, sep, words = line.strip().partition("：")
        if not name:
            continue
        if sep:
            buttons.append({"name": name, "sub_button": [
                {"type": "click", "name": w, "key": w} for w in words.split()]})
        else:
            buttons.append({"type": "click", "name": name, "key": name})
    return {"button": buttons}


async def install_menu(settings: Settings, sessions: Any) -> str | None:
    """None when installed, else what WeChat said."""
    from bot.channels.wechat_api import ApiReply
    from bot.channels.wechat_channel import WeChatChannel

    reply = await WeChatChannel(settings, sessions).api.post("menu/create", menu_body())
    if isinstance(reply, ApiReply) and reply.ok:
        return None
    return str(getattr(reply, "errmsg", None) or reply)


@click.group()
def wechat() -> None:
    """The WeChat Official Account (公众号)."""


@wechat.command("menu")
@click.pass_obj
def wechat_menu(obj: dict) -> None:
    """Install the 公众号's custom menu (待访, 个案, 帮助 …) through the API."""
    from bot.cli.app import build_app

    app = build_app(obj)
    if not app.settings.wechat_app_id:
        raise click.ClickException("VISITBOT_WECHAT_APP_ID 未设置")
    problem = asyncio.run(install_menu(app.settings, app.sessions))
    if problem is not None:
        raise click.ClickException(f"菜单安装失败：{problem}")
    click.echo("公众号菜单已安装。")


COMMANDS = [wechat]
