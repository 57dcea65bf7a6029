"""Callback authentication shared by the Official Account and WeCom.

Both platforms sign a callback with sha1(sorted(token, timestamp, nonce[, encrypt])) and,
in safe mode, AES-256-CBC encrypt it (key = base64(EncodingAESKey + "="), IV = key[:16],
payload = 16 random bytes | 4-byte length | XML | app/corp id, PKCS#7 to 32 bytes).

Replies are encrypted and signed with wechatpy's `WeChatCrypto`. Incoming ciphertext is
opened here with wechatpy's cipher but with strict checks (padding, length, id) and
without decoding: the caller cleans the bytes before any XML parser sees them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
import time
from collections.abc import Callable
from typing import Any

from wechatpy.crypto import WeChatCrypto as MpCrypto
from wechatpy.crypto.base import WeChatCipher
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto
from wechatpy.utils import WeChatSigner

from bot.channels.wechat_xml import parse_xml

MAX_SKEW_SECONDS = 300


class Forbidden(Exception):
    """Signature, timestamp, nonce or ciphertext refused: answer 403, do nothing."""


def signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


class CallbackAuth:
    """Verifies and opens callbacks for one app (`receive_id`: app id or corp id)."""

    def __init__(self, token: str, aes_key: str | None, receive_id: str, *, work: bool = False,
                 max_skew: float = MAX_SKEW_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.receive_id = receive_id
        self.max_skew = max_skew
        self.clock = clock
        self._key: bytes | None = None
        self._crypto: Any = None
        if aes_key:
            key = base64.b64decode(aes_key + "=")
            if len(key) != 32:
                raise ValueError("the EncodingAESKey must be 43 characters (32 bytes)")
            self._key = key
            cls = WorkCrypto if work else MpCrypto
            self._crypto = cls(token, aes_key, receive_id)

    @property
    def can_decrypt(self) -> bool:
        return self._key is not None

    # --- checks -----------------------------------------------------------------------

    def check_fresh(self, timestamp: str, nonce: str) -> None:
        try:
            ts = int(timestamp)
        except (TypeError, ValueError):
            raise Forbidden("timestamp missing or not a number") from None
        if abs(self.clock() - ts) > self.max_skew:
            raise Forbidden("stale timestamp")
        if not nonce or len(nonce) > 64:
            raise Forbidden("nonce missing")
        # replays of a fresh (timestamp, nonce) are refused by bot.channels.replay_guard

    def check_signature(self, given: str | None, timestamp: str, nonce: str,
                        *extra: str) -> None:
        expected = signature(self.token, timestamp, nonce, *extra)
        # bytes: compare_digest raises on non-ASCII str, which a forger controls
        if not given or not hmac.compare_digest(expected.encode(), given.lower().encode()):
            raise Forbidden("bad signature")

    # --- safe mode ----------------------------------------------------------------------

    def decrypt(self, encrypted: str, msg_signature: str | None, timestamp: str,
                nonce: str) -> bytes:
        """Check msg_signature over the ciphertext and return the plaintext XML bytes."""
        if self._key is None:
            raise Forbidden("encrypted callback but no EncodingAESKey configured")
        self.check_signature(msg_signature, timestamp, nonce, encrypted)
        return self._open(encrypted)

    def open_envelope(self, body: bytes, msg_signature: str | None, timestamp: str,
                      nonce: str) -> dict[str, str]:
        """A safe-mode callback body (the <Encrypt> envelope) as its message's fields."""
        envelope = parse_xml(body)
        if not envelope.get("Encrypt"):
            raise Forbidden("no Encrypt element in safe mode")
        return parse_xml(self.decrypt(envelope["Encrypt"], msg_signature, timestamp, nonce))

    def _open(self, encrypted: str) -> bytes:
        assert self._key is not None
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise Forbidden("ciphertext is not base64") from None
        if not data or len(data) % 16:
            raise Forbidden("ciphertext length")
        plain = WeChatCipher(self._key).decrypt(data)
        pad = plain[-1]
        if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
            raise Forbidden("bad padding")
        content = plain[16:-pad]
        if len(content) < 4:
            raise Forbidden("truncated plaintext")
        (length,) = struct.unpack(">I", content[:4])
        if 4 + length > len(content):
            raise Forbidden("bad length")
        if content[4 + length:] != self.receive_id.encode("utf-8"):
            raise Forbidden("message for another app")
        return content[4:4 + length]

    def decrypt_echo(self, msg_signature: str | None, timestamp: str, nonce: str,
                     echostr: str) -> str:
        """WeCom URL verification: echostr is encrypted; answer with its plaintext."""
        if self._crypto is None:
            raise Forbidden("no EncodingAESKey configured")
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        try:
            # wechatpy's own check; its failures are InvalidSignatureException,
            # InvalidCorpIdException (not a subclass) or decoding errors: all refused.
            return str(self._crypto.check_signature(msg_signature, timestamp, nonce, echostr))
        except Exception as exc:
            raise Forbidden(f"echostr refused: {type(exc).__name__}") from None

    def encrypt_reply(self, xml: str, nonce: str, timestamp: str | None = None) -> str:
        if self._crypto is None:
            raise RuntimeError("no EncodingAESKey configured")
        ts = timestamp or str(int(self.clock()))
        return str(self._crypto.encrypt_message(xml, nonce, ts))
