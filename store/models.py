"""SQLAlchemy 2.0 typed models: the whole schema in one readable place.

ID numbers and phones are sealed at rest (`SealedString`, still searchable by equality);
birth dates are kept to the month (`BirthMonth`); health facts are marked in their
comment. Logs and chat text show any of them only through `store.masking`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.base import Base, BirthMonth, JSONType, UTCDateTime, utcnow
from store.sealing import SealedString

# A phone of up to 32 characters sealed: 16 bytes of SIV tag, base64, the prefix.
PHONE_SEALED = 96

# --- places and people -------------------------------------------------------------


class Jurisdiction(Base):
    """A node of the administrative tree: county → township → village."""

    __tablename__ = "jurisdictions"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))  # province|city|county|township|village
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    code: Mapped[str | None] = mapped_column(String(32))

    parent: Mapped[Jurisdiction | None] = relationship(remote_side=[id])


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    gender: Mapped[str | None] = mapped_column(String(4))
    birth_date: Mapped[date | None] = mapped_column(BirthMonth())  # the month only
    # sealed at rest (store/sealing.py); equality and uniqueness still work
    id_number: Mapped[str | None] = mapped_column(SealedString(), unique=True)
    phone: Mapped[str | None] = mapped_column(SealedString(PHONE_SEALED), index=True)
    jurisdiction_id: Mapped[int | None] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    jurisdiction: Mapped[Jurisdiction | None] = relationship()


class Role(Base):
    """What a person is to visitbot; an officer's jurisdiction is their scope."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("person_id", "role", "jurisdiction_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # subject|visitor|officer|family
    jurisdiction_id: Mapped[int | None] = mapped_column(ForeignKey("jurisdictions.id"), index=True)
    title: Mapped[str | None] = mapped_column(String(32))  # 村（居）干部, 志愿者, 邻里, 亲属 …
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)


class Subject(Base):
    """Facts about a visited person: enough for linzi 附件1 and guangxi 附件2 一至四."""

    __tablename__ = "subjects"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"),
                                           primary_key=True)
    policy: Mapped[str] = mapped_column(String(40), index=True)
    categories: Mapped[list[str]] = mapped_column(JSONType, default=list)  # 对象类型
    tier: Mapped[str] = mapped_column(String(16), default="ordinary")  # derived: key|ordinary
    tier_override: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    status_note: Mapped[str | None] = mapped_column(Text)
    status_until: Mapped[date | None] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(Text)
    hukou_type: Mapped[str | None] = mapped_column(String(8))  # 农村|城镇
    lives_at_hukou: Mapped[bool | None] = mapped_column(Boolean)
    # health and care facts (sensitive)
    health_status: Mapped[str | None] = mapped_column(String(16))
    diseases: Mapped[str | None] = mapped_column(Text)  # 患病种类或残疾等级
    self_care: Mapped[str | None] = mapped_column(String(8))  # 自理|半失能|失能
    disabled: Mapped[bool | None] = mapped_column(Boolean)
    disability_cert_no: Mapped[str | None] = mapped_column(SealedString())  # ID number + 2
    lives_alone: Mapped[bool | None] = mapped_column(Boolean)
    empty_nest: Mapped[bool | None] = mapped_column(Boolean)
    left_behind: Mapped[bool | None] = mapped_column(Boolean)
    family_planning_special: Mapped[bool | None] = mapped_column(Boolean)
    # income and living conditions
    income_source: Mapped[str | None] = mapped_column(String(64))
    annual_income_wan: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    monthly_income: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    monthly_benefits: Mapped[str | None] = mapped_column(Text)
    water_safe: Mapped[bool | None] = mapped_column(Boolean)
    fire_power_gas_safe: Mapped[bool | None] = mapped_column(Boolean)
    housing_safe: Mapped[bool | None] = mapped_column(Boolean)
    children_count: Mapped[int | None] = mapped_column(Integer)
    # contacts
    emergency_contact_name: Mapped[str | None] = mapped_column(String(100))
    emergency_contact_phone: Mapped[str | None] = mapped_column(SealedString(PHONE_SEALED))
    first_contact_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # help already received (帮扶)
    help_org_type: Mapped[str | None] = mapped_column(String(32))
    help_org_name: Mapped[str | None] = mapped_column(String(100))
    helper_name: Mapped[str | None] = mapped_column(String(100))
    helper_phone: Mapped[str | None] = mapped_column(SealedString(PHONE_SEALED))
    helper_identity: Mapped[str | None] = mapped_column(String(16))
    help_measures: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    family_notify_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])


class HouseholdMember(Base):
    """guangxi 附件2 二: people in the household; linzi 共同居住人."""

    __tablename__ = "household_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subjects.person_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    gender: Mapped[str | None] = mapped_column(String(4))
    id_number: Mapped[str | None] = mapped_column(SealedString())
    relation: Mapped[str | None] = mapped_column(String(32))
    health: Mapped[str | None] = mapped_column(String(16))
    benefits: Mapped[str | None] = mapped_column(String(16))  # 低保|特困
    co_resident: Mapped[bool] = mapped_column(Boolean, default=True)


class FamilyLink(Base):
    """A child or other relative of a subject, who may receive notices."""

    __tablename__ = "family_links"
    __table_args__ = (UniqueConstraint("subject_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subjects.person_id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    relation: Mapped[str | None] = mapped_column(String(16))
    is_primary_supporter: Mapped[bool] = mapped_column(Boolean, default=False)
    lives_nearby: Mapped[bool | None] = mapped_column(Boolean)
    away_since: Mapped[date | None] = mapped_column(Date)
    away_place: Mapped[str | None] = mapped_column(String(100))
    planned_return: Mapped[date | None] = mapped_column(Date)
    notify: Mapped[bool] = mapped_column(Boolean, default=True)


class Assignment(Base):
    """分片包干、责任到人: who visits whom, and since when."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_subject_active", "subject_id", "ends_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.person_id", ondelete="CASCADE"))
    visitor_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)


def assignment_current(today: Any, a: Any = None) -> ColumnElement[bool]:
    """An assignment not ended before `today` (a date or a bound parameter); `a`, an
    alias of the table, else the mapped class. The one rule for who is assigned: the chat's
    scope and the roster's changes read it so, the scheduler and reports with
    `assignment_in_force`."""
    cols = Assignment if a is None else a.c
    return or_(cols.ends_on.is_(None), cols.ends_on >= today)


def assignment_in_force(today: Any, a: Any = None) -> ColumnElement[bool]:
    """`assignment_current` and already started on `today`."""
    cols = Assignment if a is None else a.c
    return and_(cols.starts_on <= today, assignment_current(today, a))


# --- platforms -----------------------------------------------------------------------


class Account(Base):
    """A platform identity (chat id, openid, WeCom userid) bound to a person."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # free-message budget since the last inbound message (WeChat's 48-hour window)
    free_sent: Mapped[int] = mapped_column(Integer, default=0)
    # what the bot asked this account to write next ("resolve:<case id>": the next plain
    # message is that case's resolution note), until when
    awaiting: Mapped[str | None] = mapped_column(String(64))
    awaiting_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Invite(Base):
    """A one-time code that binds a chat account to a person. Only the code's SHA-256 is
    kept: a copy of the database redeems nothing (`bot.chat.binding.code_hash`)."""

    __tablename__ = "invites"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InboundSeen(Base):
    """Platform message ids already processed: redeliveries are dropped here.

    Keyed on platform + the sender's account + the message id: a MsgId is only unique
    per account, and one person's message must never swallow another's. `reply` keeps
    the reply the first delivery gave in the webhook's own response, so a platform's
    retry after a lost response gets it again instead of nothing."""

    __tablename__ = "inbound_seen"
    __table_args__ = (UniqueConstraint("platform", "account", "message_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(128), server_default="")
    message_key: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class ChannelCursor(Base):
    """Where a channel's reading of a platform's queue stands (Telegram's getUpdates
    offset), so a restart neither replays nor skips updates."""

    __tablename__ = "channel_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelToken(Base):
    """Platform access tokens shared by all processes (one refresher, not one per process)."""

    __tablename__ = "channel_tokens"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- visits and records --------------------------------------------------------------


class Visit(Base):
    """A planned or done visit. (subject, kind, due_on) is unique: ticks are idempotent."""

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("subject_id", "kind", "due_on"),
        Index("ix_visits_status_due", "status", "due_on"),
        Index("ix_visits_visitor_status", "visitor_id", "status"),
        # reminders look up visits whose window opens today; reports a subject's history
        Index("ix_visits_status_opens", "status", "window_opens"),
        Index("ix_visits_subject_status_visited", "subject_id", "status", "visited_on"),
        # the reminder pass: one policy's planned visits of a batch of visitors (without it
        # SQLite walks every planned visit for every batch: quadratic in the roster)
        Index("ix_visits_status_policy_visitor", "status", "policy", "visitor_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.person_id", ondelete="CASCADE"))
    visitor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    policy: Mapped[str] = mapped_column(String(40))
    # regular|holiday|campaign|adhoc|signal
    kind: Mapped[str] = mapped_column(String(16), default="regular")
    reason: Mapped[str | None] = mapped_column(String(64))  # 春节, cold-wave …
    window_opens: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date | None] = mapped_column(Date)
    required_mode: Mapped[str | None] = mapped_column(String(16))
    mode: Mapped[str | None] = mapped_column(String(16))
    visited_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    seq: Mapped[int | None] = mapped_column(Integer)  # N-th visit of this subject
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subject: Mapped[Subject] = relationship()


class Answer(Base):
    """One answered question of a visit, typed as JSON (str, number, bool, list, date)."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("visit_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    display: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str | None] = mapped_column(String(16))
    kind: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# A conversation in one of these is the visitor's unfinished checklist; `expired` is one
# the tick closed because its visit's period ended long ago (scheduler.due).
CONVERSATION_OPEN_STATES = ("active", "paused", "review")


class Conversation(Base):
    """A visitor's checklist session; the engine state is saved after every step."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_person_status", "person_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), unique=True)
    checklist: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The subject's facts, seasons and visit number as the visit began: the checklist's
    # conditions read them every turn, and reading them once saves four queries a turn.
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="active")
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


# --- risks ---------------------------------------------------------------------------


class Case(Base):
    """A followed-up risk of one subject. `open_key` is set while open: one open case
    per (subject, kind), enforced portably by a plain unique index."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.person_id", ondelete="CASCADE"),
                                            index=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))  # watch|high|emergency
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acked_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    resolution: Mapped[str | None] = mapped_column(Text)  # 落实情况 / 处理方式结果
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Alert(Base):
    """One risk signal on a case (a flagged answer, a device signal)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    question_id: Mapped[str | None] = mapped_column(String(64))
    display: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="checklist")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseNote(Base):
    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- the way out ---------------------------------------------------------------------


class OutboxMessage(Base):
    """Every message that leaves visitbot, written in the transaction that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_not_before", "status", "not_before"),
        # Sent rows pile up for the audit trail; the dispatcher's claim reads only the
        # few that wait, so it gets an index of just those.
        Index("ix_outbox_waiting", "not_before",
              postgresql_where=text("status IN ('pending', 'sending')"),
              sqlite_where=text("status IN ('pending', 'sending')")),
        # The few waiting emergency and high-priority rows, claimed before the rest.
        Index("ix_outbox_urgent", "priority", "not_before",
              postgresql_where=text("status IN ('pending', 'sending') AND priority < 2"),
              sqlite_where=text("status IN ('pending', 'sending') AND priority < 2")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # reply|reminder|alert|notice|escalation
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(128))
    # 0 emergency, 1 high, 2 everything else: the dispatcher serves lower numbers first
    priority: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    # a message to write when this one is delivered (the visitor's 「已送达」 after an
    # alert): {"person_id", "key", "kind", "payload"}
    on_sent: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class AuditEntry(Base):
    """Who viewed or exported which subject's data."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    action: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Device(Base):
    """A remote-monitoring device in a subject's home (smoke alarm, meter, call button)."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("source", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # the platform that signs its signals
    device_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # smoke|water_meter|power_meter|call_button
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subjects.person_id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- security bookkeeping --------------------------------------------------------------


class CallbackNonce(Base):
    """Signed webhook callbacks already served, by (timestamp, nonce): a replay of a
    genuine request is refused by every process. Pruned after twice the time window."""

    __tablename__ = "callback_nonces"
    __table_args__ = (UniqueConstraint("platform", "timestamp", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class KeyCheck(Base):
    """A known text sealed with a key: a process started with another key cannot open it
    and refuses to start (`store.key_check`)."""

    __tablename__ = "key_checks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    sealed: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DashboardToken(Base):
    """Dashboard login links redeemed and sessions ended, by the SHA-256 of their nonce.

    A login link is redeemed by inserting its row (the unique key lets one of any number
    of parallel requests win); a session cookie stops working once its row says ended."""

    __tablename__ = "dashboard_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # login|logout
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
