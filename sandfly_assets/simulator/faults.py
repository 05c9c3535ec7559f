"""Deterministic fault injection for data calls.

One global counter numbers every non-exempt call (1, 2, 3, ...). Call n gets, in
this order of precedence:
* 429 with `Retry-After` when `rate_limit_every` divides n;
* `error_status` (500/502/503/504) when `error_every` divides n;
* a malformed (truncated) JSON body with the real status when `malformed_every` divides n;
* a dropped connection (headers and half the body, then close) when `drop_every` divides n.
`delay_seconds` is added before every non-exempt call. Changing the settings
resets the counter, so "the 3rd call after set_faults(error_every=3)" is exact.
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

    def next_call(self) -> tuple[Fault, FaultSettings]:
        """Number the next data call and decide its fault."""
        with self._lock:
            self._counter += 1
            number = self._counter
            settings = self._settings
        return _decide(number, settings), settings


def _decide(number: int, settings: FaultSettings) -> Fault:
    """The fault for call `number`, by precedence."""
    schedule = (
        (settings.rate_limit_every, Fault.RATE_LIMIT),
        (settings.error_every, Fault.ERROR),
        (settings.malformed_every, Fault.MALFORMED),
        (settings.drop_every, Fault.DROP),
    )
    for every, fault in schedule:
        if every and number % every == 0:
            return fault
    return Fault.NONE
