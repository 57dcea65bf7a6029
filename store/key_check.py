"""Refuse to start with an ID key that is missing, malformed or not the store's own.

A process with the wrong key used to start, answer /healthz, and then drop every message
from a person whose sealed ID it could not open. The store keeps a known text sealed
with the key it was first written with (`key_checks`); a process that cannot open it
refuses to start, with an error that says what to do, before it takes any message.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store import sealing
from store.models import KeyCheck, Person
from store.upsert import insert_ignore

CHECK_NAME = "id_key"
CHECK_TEXT = "visitbot ID key check v1"


class KeyCheckError(sealing.SealingError):
    pass


def check_id_key(sessions: sessionmaker[Session], *, demo: bool = False) -> None:
    """Raise KeyCheckError unless the configured key is the one the store was sealed with.

    Outside the demo (and tests) a key must be configured: several hosts each making their
    own key in their home folder would each seal differently."""
    if not sealing.key_configured() and not demo:
        raise KeyCheckError(
            "VISITBOT_ID_KEY is not set. ID numbers are sealed with it: set VISITBOT_ID_KEY "
            "(base64 of 64 random bytes, e.g. `python -c \"import base64,os; print("
            "base64.b64encode(os.urandom(64)).decode())\"`) or VISITBOT_ID_KEY_FILE, the "
            "same on every host, and back it up apart from the database")
    try:
        sealing.seal(CHECK_TEXT)  # a malformed key fails here, with its own message
    except sealing.SealingError as exc:
        raise KeyCheckError(f"the ID key cannot be used: {exc}") from None
    with sessions() as s:
        sealed = s.scalar(select(KeyCheck.sealed).where(KeyCheck.name == CHECK_NAME))
        if sealed is None:
            # A store sealed before the check existed: an ID already in it must open.
            _probe_existing(s)
            insert_ignore(s, KeyCheck.__table__, {"name": CHECK_NAME,
                                                  "sealed": sealing.seal(CHECK_TEXT)})
            s.commit()
            sealed = s.scalar(select(KeyCheck.sealed).where(KeyCheck.name == CHECK_NAME))
    try:
        ok = sealed is not None and sealing.unseal(sealed) == CHECK_TEXT
    except sealing.SealingError:
        ok = False
    if not ok:
        raise KeyCheckError(_WRONG)


_WRONG = ("the configured ID key (VISITBOT_ID_KEY) is not the key this database was sealed "
          "with: start with the original key. A new key cannot read the sealed ID numbers, "
          "and every message from those people would be lost")


def _probe_existing(s: Session) -> None:
    try:
        s.scalar(select(Person.id_number).where(Person.id_number.is_not(None)).limit(1))
    except sealing.SealingError:
        raise KeyCheckError(_WRONG) from None
