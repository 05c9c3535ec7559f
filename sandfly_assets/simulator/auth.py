"""Bearer tokens: issued at login, checked on every call, expiring and revocable.

Tokens are real JWTs in shape (header.claims.signature, HMAC-SHA256 with a key made
at start) carrying the claims the spec documents (`sub`, `type`, `fresh`, `iat`,
`nbf`, `exp`, `sxp`, `jti`), so a client that decodes `exp` gets a true answer.
The server still keeps its own table: a token is valid only while it is in it and
unexpired, which is what makes logout and revocation work.

Expiry uses the real clock even when the simulator's data clock is fixed, so a test
can wait for a short-lived token to expire.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    """One issued token and the session it belongs to."""

    value: str
    kind: str
    username: str
    session: str
    issued_at: float
    expires_at: float
    session_expires_at: float
    fresh: bool
    jti: str

    def claims(self) -> dict:
        """The decoded JWT claims, as `access_token_data`/`refresh_token_data` show them."""
        return {
            "sub": self.username,
            "type": self.kind,
            "fresh": self.fresh,
            "iat": int(self.issued_at),
            "nbf": int(self.issued_at),
            "exp": int(self.expires_at),
            "sxp": int(self.session_expires_at),
            "jti": self.jti,
        }


def _b64url(data: bytes) -> str:
    """Unpadded base64url, as JWTs use."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class TokenStore:
    """Issues, checks and revokes tokens; thread-safe."""

    def __init__(self, access_ttl: float, refresh_ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._tokens: dict[str, Token] = {}
        self._issued: list[str] = []
        self._lock = threading.Lock()

    def login(self, username: str) -> tuple[Token, Token]:
        """A new session: a fresh access token and a refresh token living until the session ends."""
        now = self._clock()
        session = uuid.uuid4().hex
        session_end = now + self.refresh_ttl
        access = self._issue(
            "access", username, session, now, min(now + self.access_ttl, session_end), session_end, fresh=True
        )
        refresh = self._issue("refresh", username, session, now, session_end, session_end, fresh=False)
        return access, refresh

    def refresh(self, refresh_value: str) -> tuple[Token, Token] | None:
        """A new, non-fresh access token for a valid refresh token (None if it is not one)."""
        refresh = self.check(refresh_value, "refresh")
        if refresh is None:
            return None
        now = self._clock()
        access = self._issue(
            "access",
            refresh.username,
            refresh.session,
            now,
            min(now + self.access_ttl, refresh.session_expires_at),
            refresh.session_expires_at,
            fresh=False,
        )
        return access, refresh

    def check(self, value: str, kind: str = "access") -> Token | None:
        """The token if it is known, of the right kind and unexpired; otherwise None."""
        with self._lock:
            token = self._tokens.get(value)
        if token is None or token.kind != kind:
            return None
        if self._clock() >= token.expires_at:
            with self._lock:
                self._tokens.pop(value, None)
            return None
        return token

    def revoke_session(self, value: str) -> bool:
        """Log out: revoke every token of the session `value` belongs to."""
        with self._lock:
            token = self._tokens.get(value)
            if token is None:
                return False
            for other in [key for key, item in self._tokens.items() if item.session == token.session]:
                del self._tokens[other]
        return True

    def revoke_all(self) -> None:
        """Invalidate every token (like the server's JWT key rotation)."""
        with self._lock:
            self._tokens.clear()

    def _issue(
        self,
        kind: str,
        username: str,
        session: str,
        now: float,
        expires: float,
        session_expires: float,
        fresh: bool,
    ) -> Token:
        """Create, sign and remember a token."""
        unsigned = Token(
            value="",
            kind=kind,
            username=username,
            session=session,
            issued_at=now,
            expires_at=expires,
            session_expires_at=session_expires,
            fresh=fresh,
            jti=str(uuid.uuid4()),
        )
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64url(json.dumps(unsigned.claims(), separators=(",", ":")).encode())
        signature = _b64url(hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest())
        token = dataclasses.replace(unsigned, value=f"{header}.{body}.{signature}")
        with self._lock:
            self._purge_expired(now)
            self._tokens[token.value] = token
            self._issued.append(token.value)
        return token

    def issued(self) -> list[str]:
        """Every token value ever issued (access and refresh), oldest first, expired or not."""
        with self._lock:
            return list(self._issued)

    def _purge_expired(self, now: float) -> None:
        """Forget expired tokens so a long run does not grow the table (lock held)."""
        if len(self._tokens) < 1000:
            return
        for value in [key for key, token in self._tokens.items() if token.expires_at <= now]:
            del self._tokens[value]
