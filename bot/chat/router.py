"""Who is this, and what are they doing: one inbound message to one handler."""

from __future__ import annotations

import logging
import re

from bot.chat import binding, commands, inbound
from bot.chat.context import Turn
from bot.chat.visit_session import continue_visit, start_visit
from conversations.engine import Inbound, command_of
from conversations.messages import Incoming, Kind, Outgoing
from conversations.numbers import read_int
from conversations.text import render

log = logging.getLogger(__name__)

BIND = re.compile(r"^\s*(?:/start|绑定)\s+([A-Za-z0-9_-]{4,64})\s*$")
RESOLVE = re.compile(r"^\s*(?:/resolve|处理)\s*(\d+)\s*(.*)$", re.S)
NOTE = re.compile(r"^\s*(?:/note|备注)\s*(\d+)\s*(.*)$", re.S)
CONTACT = re.compile(r"^\s*(?:/contact|联系人)\s*(\d+)\s*$")
RECORD = re.compile(r"^\s*(?:/record|记录)\s*(.*)$")

# Global commands: slash forms for Telegram, words for WeChat and the console.
COMMANDS: dict[str, str] = {
    "/help": "help", "帮助": "help", "菜单": "help", "/start": "help",
    "/visits": "visits", "待访": "visits", "我的待访": "visits",
    "/overdue": "overdue", "逾期": "overdue",
    "/cases": "cases", "个案": "cases", "待处理": "cases",
    "/status": "status", "近况": "status",
    "停止通知": "stop", "/stop": "stop",
    "/report": "report", "月报": "report",
}

# a checklist's own commands, which mean nothing outside one
CHECKLIST_ONLY = frozenset({"back", "skip", "pause", "resume", "cancel", "confirm", "done"})


def changes_state_unbound(incoming: Incoming) -> bool:
    """What an account bound to no one may send that changes anything: a bind code (typed
    or in a QR scene) or an unsubscribe. Everything else from it writes nothing."""
    text = (incoming.text or "").strip()
    return bool(incoming.meta.get("event") == "unsubscribe" or incoming.meta.get("bind_code")
                or BIND.match(text))


def route(turn: Turn) -> None:
    inc = turn.incoming
    if inbound.consult(turn, _command, COMMANDS):  # what this kind of message may do
        return
    if inc.meta.get("event") == "unsubscribe":
        binding.unbind(turn)
        return
    text = (inc.text or "").strip()
    code = inc.meta.get("bind_code")
    m = BIND.match(text)
    if code or m:
        binding.bind(turn, str(code or (m.group(1) if m else "")))
        return
    if turn.person is None:
        log.info("message from an unbound %s account ignored", turn.address.platform)
        turn.reply(Outgoing(render("bot_unknown_user")))
        return
    if _awaited(turn, text):
        return
    if inc.choice is not None:
        _choice(turn, inc.choice)
        return
    open_ = turn.open_visit if "visitor" in turn.roles else None
    # in a checklist, everything is for it but the global slash commands (/visits …);
    # its own words work with a slash too (/cancel, /取消, /上一题)
    if open_ is not None and (not text.startswith("/") or command_of(text) is not None):
        continue_visit(turn, open_, _inbound(turn))
        return
    _command(turn, text)


def _awaited(turn: Turn, text: str) -> bool:
    """The message the bot asked for last, when it is that: after 已处理, the next plain
    message is the case's resolution note. Whatever comes, the question is then over."""
    account = turn.account
    if account is None or not account.awaiting:
        return False
    awaiting, until = account.awaiting, account.awaiting_until
    account.awaiting, account.awaiting_until = None, None
    if until is None or until < turn.now or turn.incoming.choice is not None or not text:
        return False
    if text.startswith("/") or _is_command(text):
        return False
    kind, _, case_id = awaiting.partition(":")
    if kind == "resolve" and "officer" in turn.roles:
        commands.resolve(turn, case_id, text)
        return True
    return False


def _is_command(text: str) -> bool:
    word = text.split()[0]
    return (word in COMMANDS or command_of(text) is not None or any(
        r.match(text) for r in (RESOLVE, NOTE, CONTACT, RECORD)))


def _inbound(turn: Turn) -> Inbound:
    inc = turn.incoming
    media = inc.media
    return Inbound(
        text=inc.text, choice=inc.choice,
        media_kind=media.kind if media else None, media_ref=media.ref if media else None,
        latitude=media.latitude if media else None, longitude=media.longitude if media else None,
        voice=inbound.kind_of(inc) is Kind.VOICE_TEXT,
        media_url=str(inc.meta.get("pic_url") or "") or None,
    )


def _choice(turn: Turn, data: str) -> None:
    kind, _, arg = data.partition(":")
    visit_id = read_int(arg) if kind == "start" else None
    if visit_id is not None and "visitor" in turn.roles:
        start_visit(turn, visit_id)
    elif kind == "ack":
        commands.ack(turn, arg)
    elif kind == "resolve":
        commands.resolve_howto(turn, arg)
    else:
        assert turn.person is not None
        open_ = turn.open_visit
        if open_ is not None:
            continue_visit(turn, open_, _inbound(turn))
        else:
            log.info("stale or unknown button %r refused", data[:64])
            turn.reply(Outgoing(render("bot_stale_button"), meta={"button_refused": True}))


def _command(turn: Turn, text: str) -> None:
    if text.startswith("/") and not text[1:2].isascii():
        text = text[1:]  # every word the help offers works as a slash command: /待访, /处理
    word = text.split()[0] if text else ""
    name = COMMANDS.get(word.lower() if word.startswith("/") else word)
    roles = turn.roles
    if command_of(text) in CHECKLIST_ONLY and "visitor" in roles:
        turn.reply(Outgoing(render("bot_no_checklist")))
    elif name == "visits" and "visitor" in roles:
        commands.visits(turn)
    elif name == "overdue" and roles & {"officer", "visitor"}:
        commands.overdue(turn)
    elif name == "cases" and "officer" in roles:
        commands.open_cases(turn)
    elif name == "status" and "family" in roles:
        commands.status(turn)
    elif name == "report" and "officer" in roles:
        commands.report(turn)
    elif name == "stop" and "family" in roles:
        commands.stop_notices(turn)
    elif (m := RECORD.match(text)) and "visitor" in roles:
        commands.record(turn, m.group(1))
    elif (m := RESOLVE.match(text)) and "officer" in roles:
        commands.resolve(turn, m.group(1), m.group(2))
    elif (m := NOTE.match(text)) and "officer" in roles:
        commands.note(turn, m.group(1), m.group(2))
    elif (m := CONTACT.match(text)) and "officer" in roles:
        commands.contact(turn, m.group(1))
    elif (nth := read_int(text, max_digits=3)) is not None and "visitor" in roles:
        commands.start_nth(turn, nth)
    elif text in ("开始", "开始记录") and "visitor" in roles:
        commands.record(turn, "")
    else:
        commands.help_(turn)
