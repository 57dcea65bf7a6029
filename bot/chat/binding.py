"""Binding platform accounts to people with one-time invite codes."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.chat.context import Turn
from bot.chat.ratelimit import INVITE_FAILURES_BURST, INVITE_FAILURES_PER_SECOND, TokenBuckets
from conversations.messages import Outgoing
from conversations.text import render
from store.models import Account, Invite, Person
from store.upsert import insert_ignore

log = logging.getLogger(__name__)
# wrong codes per chat: five, then one every three minutes (bot.chat.ratelimit)
INVITE_FAILURES = TokenBuckets(INVITE_FAILURES_BURST, INVITE_FAILURES_PER_SECOND)

# No look-alike characters (0/O, 1/I): codes are read aloud and typed on phones.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class InviteError(ValueError):
    pass


def code_hash(code: str) -> str:
    """What the store keeps of an invite code: a copy of the database redeems nothing."""
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def create_invite(session: Session, person_id: int, now: datetime, ttl_hours: int) -> str:
    code = "".join(secrets.choice(ALPHABET) for _ in range(8))
    session.add(Invite(code_hash=code_hash(code), person_id=person_id, created_at=now,
                       expires_at=now + timedelta(hours=ttl_hours)))
    session.flush()
    return code


def invite_by_phone(session: Session, phone: str, now: datetime,
                    ttl_hours: int) -> tuple[str, Person]:
    people = session.scalars(select(Person).where(Person.phone == phone)).all()
    if not people:
        raise InviteError(f"no person with phone {phone[:3]}****{phone[-4:]}")
    if len(people) > 1:
        raise InviteError("several people share this phone; invite by person id instead")
    return create_invite(session, people[0].id, now, ttl_hours), people[0]


def bind(turn: Turn, code: str) -> None:
    """Redeem a code: the sender's account now speaks for the invited person."""
    s = turn.session
    chat = (turn.address.platform, turn.address.external_id)
    if not INVITE_FAILURES.peek(chat):
        log.warning("invite code not tried: too many wrong codes from %s chat %s…",
                    chat[0], chat[1][:6])
        turn.reply(Outgoing(render("bot_invite_limited")))
        return
    # A conditional UPDATE makes a code usable once even when two redeem it at once.
    claimed = s.execute(
        update(Invite)
        .where(Invite.code_hash == code_hash(code), Invite.used_at.is_(None),
               Invite.expires_at > turn.now)
        .values(used_at=turn.now)
        .returning(Invite.person_id)
    ).first()
    if claimed is None:
        INVITE_FAILURES.allow(chat)
        log.warning("wrong invite code from %s chat %s…", chat[0], chat[1][:6])
        turn.reply(Outgoing(render("bot_invite_invalid")))
        return
    person_id = claimed[0]
    s.execute(delete(Account).where(Account.platform == turn.address.platform,
                                    Account.external_id == turn.address.external_id))
    insert_ignore(s, Account.__table__, {
        "person_id": person_id, "platform": turn.address.platform,
        "external_id": turn.address.external_id, "bound_at": turn.now,
        "last_inbound_at": turn.now, "free_sent": 0,
    })
    person = s.get(Person, person_id)
    from bot.chat.scope import roles_of  # local: keeps module import order simple

    roles = roles_of(s, person_id)
    turn.person, turn.roles = person, roles
    turn.reply(Outgoing(render("bot_bound", name=person.name if person else "",
                               roles=sorted(roles))))


def unbind(turn: Turn) -> None:
    turn.session.execute(delete(Account).where(
        Account.platform == turn.address.platform,
        Account.external_id == turn.address.external_id))


def ensure_console_account(session: Session, person_id: int, external_id: str,
                           now: datetime) -> None:
    """The console is the operator's own terminal: bind it without an invite."""
    insert_ignore(session, Account.__table__, {
        "person_id": person_id, "platform": "console", "external_id": external_id,
        "bound_at": now, "free_sent": 0,
    }, ["platform", "external_id"])
