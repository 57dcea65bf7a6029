"""What each kind of inbound platform traffic may do: the one table, and its reading.

Channels only classify a platform payload into a `Kind` (`Incoming.kind`); this table
decides what that kind does for the sender as they are now: not bound yet, bound and
outside a checklist, or in a checklist at a question of some type. Only a deliberate
answer reaches the checklist: a menu click is a command, a forward or an edit is never
an answer, a voice transcript is echoed and, at a free-text question, kept until the
visitor confirms it (the engine's `heard` step). Every message a person sends gets a
truthful reply that repeats what is being asked, through the outbox like every other
message; the only silent rows are traffic no person typed (platform notices; the
拍照/相册 menu event, whose picture arrives as an image message of its own and is
answered there) and an unsubscribe (they can no longer be written to).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.chat import binding
from bot.chat.context import Turn
from bot.chat.visit_session import OpenVisit, continue_visit, reask
from conversations.checklist import ChecklistError, load_checklist
from conversations.engine import COMMANDS as STEP_COMMANDS
from conversations.engine import Inbound
from conversations.messages import Incoming, Kind, Outgoing
from conversations.text import render
from store.models import InboundSeen
from store.upsert import insert_ignore

log = logging.getLogger(__name__)


class Do(StrEnum):
    PASS = "pass"  # the router's usual path: bind words, commands, the checklist step
    GUIDE = "guide"  # 「未绑定」 guidance
    BIND = "bind"  # redeem the scanned QR code's invite (guidance when it has none)
    UNBIND = "unbind"  # no reply: they can no longer be written to
    MENU = "menu"  # the key is a command (global, or the checklist's own), never an answer
    BOUND = "bound"  # already bound: say so (never "invite invalid"), repeat the question
    HINT = "hint"  # say what arrived and why it is not used, repeat the question
    NOTHING = "nothing"


@dataclass(frozen=True)
class Rule:
    """What a kind does before binding, outside a checklist, and at each position in a
    checklist (`at`, by question type or engine step; "*" for the rest). `hint` names
    the template of a HINT reply."""

    unbound: Do
    idle: Do
    at: Mapping[str, Do] = field(default_factory=dict)
    hint: str = "inbound_unsupported"

    def action(self, bound: bool, where: str | None) -> Do:
        if not bound:
            return self.unbound
        if where is None:
            return self.idle
        return self.at.get(where, self.at.get("*", self.idle))


# Where a visitor can be in a checklist: the engine's own steps, then each question type.
POSITIONS = ("mode", "visit_date", "review", "paused", "single", "multi", "yesno",
             "number", "date", "text", "photo", "location")

P, G, H, N = Do.PASS, Do.GUIDE, Do.HINT, Do.NOTHING
TABLE: dict[Kind, Rule] = {
    # typed text: bind words, commands, then the engine parses it for the question
    Kind.TEXT: Rule(P, P, {"*": P}),
    # echoed by the engine (engine_heard); at a free-text question recorded only once
    # the visitor confirms the transcript (speech recognition is wrong often enough)
    Kind.VOICE_TEXT: Rule(G, P, {"*": P}),
    Kind.VOICE_BLANK: Rule(G, H, {"*": H}, hint="inbound_voice_unheard"),
    Kind.IMAGE: Rule(G, H, {"photo": P, "*": H}, hint="inbound_image_not_needed"),
    Kind.LOCATION: Rule(G, H, {"location": P, "*": H}, hint="inbound_location_not_needed"),
    Kind.VIDEO: Rule(G, H, {"*": H}),
    Kind.FILE: Rule(G, H, {"*": H}),
    Kind.LINK: Rule(G, H, {"*": H}),
    Kind.OTHER: Rule(G, H, {"*": H}),
    Kind.FORWARD: Rule(G, H, {"*": H}, hint="inbound_forward"),
    Kind.MENU_CLICK: Rule(G, Do.MENU, {"*": Do.MENU}),
    Kind.MENU_PHOTO: Rule(N, N, {"*": N}),
    Kind.SCAN: Rule(Do.BIND, Do.BOUND, {"*": Do.BOUND}),
    Kind.SUBSCRIBE: Rule(Do.BIND, Do.BOUND, {"*": Do.BOUND}),
    Kind.UNSUBSCRIBE: Rule(Do.UNBIND, Do.UNBIND, {"*": Do.UNBIND}),
    # an edit changes no stored answer: say so, and how to change one
    Kind.EDIT: Rule(G, H, {"*": H}, hint="inbound_edit"),
    # buttons: the router and the engine refuse the ones that are not for this question
    Kind.CALLBACK: Rule(G, P, {"*": P}),
    Kind.NOTICE: Rule(N, N, {"*": N}),
}


def silent(kind: Kind) -> bool:
    """True when the row never does anything: the endpoint need not run the core."""
    rule = TABLE[kind]
    return rule.unbound is N and rule.idle is N and set(rule.at.values()) <= {N}


def kind_of(incoming: Incoming) -> Kind:
    """The channel's classification; for an Incoming built without one (the console,
    the demo) what its fields say."""
    if incoming.kind is not None:
        return Kind(incoming.kind)
    if incoming.choice is not None:
        return Kind.CALLBACK
    media = incoming.media
    if media is not None:
        return {"photo": Kind.IMAGE, "location": Kind.LOCATION}.get(media.kind, Kind.OTHER)
    return Kind.TEXT


_STEPS = {"_mode": "mode", "_date": "visit_date", "_review": "review"}


def position(open_visit: OpenVisit | None) -> str | None:
    """Where in a checklist the sender is (a POSITIONS entry), None outside one."""
    if open_visit is None:
        return None
    conv = open_visit.conversation
    if conv.status == "paused":
        return "paused"
    cur = str((conv.state or {}).get("cur") or "")
    if cur in _STEPS:
        return _STEPS[cur]
    try:
        return load_checklist(conv.checklist).question(cur).type
    except (ChecklistError, KeyError):
        return "*"


def consult(turn: Turn, command: Callable[[Turn, str], None],
            global_commands: Mapping[str, Any]) -> bool:
    """Act on this message's row; False when the row says the router's usual path
    (bind words, commands, the checklist step) is to handle it."""
    inc = turn.incoming
    kind = kind_of(inc)
    open_ = turn.open_visit if "visitor" in turn.roles else None
    where = position(open_)
    rule = TABLE[kind]
    do = rule.action(turn.person is not None, where)
    if kind is Kind.IMAGE and do in (Do.PASS, Do.HINT) and not _first_of_album(turn):
        # an album is one message to the visitor: its first photo got the one reply
        log.info("%s album photo after the first: no second reply", turn.address.platform)
        return True
    if do is Do.PASS:
        return False
    log.info("%s %s at %s: %s", turn.address.platform, kind.value, where, do.value)
    if do is Do.UNBIND:
        binding.unbind(turn)
    elif do is Do.GUIDE:
        turn.reply(Outgoing(render("bot_unknown_user")))
    elif do is Do.BIND:
        code = str(inc.meta.get("bind_code") or "")
        if code:
            binding.bind(turn, code)
        else:
            turn.reply(Outgoing(render("bot_unknown_user")))
    elif do is Do.BOUND:
        name = turn.person.name if turn.person is not None else ""
        turn.reply(Outgoing(render("inbound_already_bound", name=name,
                                   in_checklist=open_ is not None)))
        _repeat(turn, open_)
    elif do is Do.HINT:
        turn.reply(Outgoing(render(rule.hint, kind=kind.value, where=where or "",
                                   in_checklist=open_ is not None)))
        _repeat(turn, open_)
    elif do is Do.MENU:
        _menu(turn, (inc.text or "").strip(), open_, command, global_commands)
    return True


def _menu(turn: Turn, key: str, open_: OpenVisit | None,
          command: Callable[[Turn, str], None], global_commands: Mapping[str, Any]) -> None:
    """A menu key runs as the command it names; an unknown key is said to be unknown.
    Whatever it is, it is never stored as an answer."""
    if key in global_commands or key.lower() in global_commands:
        command(turn, key)
        _repeat(turn, open_)
    elif open_ is not None and key.lower() in STEP_COMMANDS:
        continue_visit(turn, open_, Inbound(text=key))  # 上一题, 跳过, 暂停…: the step's own
    elif open_ is None:
        command(turn, key)  # outside a checklist an unknown word gets the help
    else:
        turn.reply(Outgoing(render("inbound_menu_unknown")))
        _repeat(turn, open_)


def _repeat(turn: Turn, open_: OpenVisit | None) -> None:
    if open_ is not None:
        reask(turn, open_)


def _first_of_album(turn: Turn) -> bool:
    """False for the second and later photos of one Telegram album (media group)."""
    album = turn.incoming.meta.get("album")
    if not album:
        return True
    return insert_ignore(turn.session, InboundSeen.__table__, {
        "platform": turn.address.platform, "account": turn.address.external_id[:128],
        "message_key": f"album:{album}"[:128], "received_at": turn.now,
    }, ["platform", "account", "message_key"]) == 1
