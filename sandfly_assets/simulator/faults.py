"""Deterministic fault injection for data calls.

One global counter numbers every non-exempt call (1, 2, 3, ...). Call n gets, in
this order of precedence:
* 429 with `Retry-After` when `rate_limit_every` divides n;
* `error_status` (500/502/503/504) when `error_every` divides n;
* a malformed (truncated) JSON body with the real status when `malformed_every` divides n;
* a dropped connection (headers and half the body, then close) when `drop_every` divides n.
The targeted switches (`error_calls`, `error_from_call`, `malformed_calls`,
`drop_calls`) apply after the periodic 429 and with the same precedence as their
periodic twins; `revoke_tokens_at_call` is applied by the API before the call is
authenticated. `delay_seconds` is added before every non-exempt call. Changing the
settings resets the counter, so "the 3rd call after set_faults(error_every=3)" is exact.
"""

from __future__ import annotations

import enum
import threading

from .config import FaultSettings


class Fault(enum.Enum):
    """What happens to one call."""

    NONE = "none"
    RATE_LIMIT = "rate_limit"
    ERROR = "error"
    MALFORMED = "malformed"
    DROP = "drop"


class FaultInjector:
    """Holds the fault settings and numbers calls; thread-safe."""

    def __init__(self, settings: FaultSettings) -> None:
        self._settings = settings
        self._counter = 0
        self._lock = threading.Lock()

    @property
    def settings(self) -> FaultSettings:
        """The current settings (an immutable snapshot)."""
        with self._lock:
            return self._settings

    def replace(self, settings: FaultSettings) -> None:
        """Install new settings and restart the call counter."""
        settings.validate()
        with self._lock:
            self._settings = settings
            self._counter = 0

    def next_call(self) -> tuple[Fault, FaultSettings, int]:
        """Number the next data call and decide its fault; also returns the call's number."""
        with self._lock:
            self._counter += 1
            number = self._counter
            settings = self._settings
        return _decide(number, settings), settings, number


def _decide(number: int, settings: FaultSettings) -> Fault:
    """The fault for call `number`, by precedence."""
    if settings.rate_limit_every and number % settings.rate_limit_every == 0:
        return Fault.RATE_LIMIT
    if (
        (settings.error_every and number % settings.error_every == 0)
        or number in settings.error_calls
        or (settings.error_from_call and number >= settings.error_from_call)
    ):
        return Fault.ERROR
    if (settings.malformed_every and number % settings.malformed_every == 0) or (
        number in settings.malformed_calls
    ):
        return Fault.MALFORMED
    if (settings.drop_every and number % settings.drop_every == 0) or number in settings.drop_calls:
        return Fault.DROP
    return Fault.NONE
