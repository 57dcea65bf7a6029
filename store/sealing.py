"""ID numbers and phones sealed at rest: AES-SIV (RFC 5297) with a key from the environment.

AES-SIV without a nonce is deterministic: the same ID number (or phone) always seals to the same
text under one key. That is what keeps the column searchable and unique in SQL (the
sealed value is itself a keyed lookup token, like a keyed hash) while a copy of the
database without the key shows no ID number and no birth date hidden in one.

The key: VISITBOT_ID_KEY (base64 of 64 random bytes), else the file named by
VISITBOT_ID_KEY_FILE. Without either, only the demo and the tests go on, with a warning,
on ~/.config/visitbot/id.key (created 0600 on first use); `visitbot run` and the other
commands refuse to start (`store.key_check`), because several hosts would each make
their own key. A wrong key is refused at start too: the store keeps a check value sealed
with the right one. Lose the key and the ID numbers are gone: back it up with the
database, apart from it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from sqlalchemy import String, TypeDecorator

log = logging.getLogger(__name__)
PREFIX = "v1:"
KEY_BYTES = 64  # AES-256-SIV


class SealingError(RuntimeError):
    """The key is missing, malformed, or not the one the data was sealed with."""


def key_configured() -> bool:
    """Whether the operator named the key (VISITBOT_ID_KEY or VISITBOT_ID_KEY_FILE)."""
    return bool(os.environ.get("VISITBOT_ID_KEY") or os.environ.get("VISITBOT_ID_KEY_FILE"))


def _key_file() -> Path:
    named = os.environ.get("VISITBOT_ID_KEY_FILE")
    return Path(named) if named else Path.home() / ".config" / "visitbot" / "id.key"


def _load_key() -> bytes:
    raw = os.environ.get("VISITBOT_ID_KEY")
    if raw is None:
        path = _key_file()
        if not path.exists():
            if os.environ.get("VISITBOT_ID_KEY_FILE"):
                raise SealingError(f"VISITBOT_ID_KEY_FILE names {path}, which does not exist")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
            log.warning("no VISITBOT_ID_KEY configured: created a new ID key in %s (for a "
                        "demo only; back it up, or every sealed ID number is lost)", path)
        elif not key_configured():
            log.warning("no VISITBOT_ID_KEY configured: using the ID key in %s", path)
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SealingError(f"{path} must be readable by its owner only (chmod 600)")
        raw = path.read_text().strip()
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SealingError("VISITBOT_ID_KEY is not base64") from None
    if len(key) != KEY_BYTES:
        raise SealingError(f"the ID key must be {KEY_BYTES} bytes, not {len(key)}")
    return key


@lru_cache(maxsize=1)
def _cipher() -> AESSIV:
    return AESSIV(_load_key())


def seal(value: str) -> str:
    token = _cipher().encrypt(value.encode(), None)
    return PREFIX + base64.urlsafe_b64encode(token).decode().rstrip("=")


def unseal(value: str) -> str:
    if not value.startswith(PREFIX):
        return value  # written before sealing existed; the migration seals these
    body = value[len(PREFIX):]
    try:
        return _cipher().decrypt(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)),
                                 None).decode()
    except (InvalidTag, binascii.Error, ValueError):
        raise SealingError("an ID number cannot be unsealed: is VISITBOT_ID_KEY the key "
                           "this database was written with?") from None


class SealedString(TypeDecorator[str]):
    """A string column stored sealed; equality and uniqueness still work in SQL."""

    impl = String
    cache_ok = True

    def __init__(self, length: int = 64) -> None:
        super().__init__(length)

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else seal(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else unseal(value)
