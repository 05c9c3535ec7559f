"""Everything the simulator serves, independent of HTTP.

Built once from the config: hosts, SSH keys, the result history, plus the token
table and fault switches. The HTTP layer and the in-process test API both read
from here, so what a test asserts is what a client receives.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from . import catalog
from .auth import TokenStore
from .config import SimulatorConfig
from .engine import QueryEngine
from .faults import FaultInjector
from .hosts import HostIdentity, generate_hosts
from .records import RecordBuilder
from .results import ResultStore, add_results, generate_history, ground_truth
from .sshkeys import SshKeyIdentity, generate_keys, host_key_stats
from .timeutil import DAY_MS, datetime_to_ms, real_now_ms


class SimulatorState:
    """The simulated server's data and switches."""

    def __init__(self, config: SimulatorConfig) -> None:
        config.validate()
        self.config = config
        self.fixed_now_ms = None if config.now is None else datetime_to_ms(config.now)
        now = self.now_ms()
        self.today_start_ms = now - now % DAY_MS
        self.window_start_ms = self.today_start_ms - max(config.days - 1, 0) * DAY_MS
        self.hosts: list[HostIdentity] = generate_hosts(
            config.seed, config.hosts, self.window_start_ms, self.today_start_ms, now
        )
        self.keys: list[SshKeyIdentity] = generate_keys(
            config.seed, config.ssh_keys, self.hosts, self.window_start_ms, self.today_start_ms, now
        )
        self.key_stats = host_key_stats(self.keys, len(self.hosts))
        self.store = ResultStore(len(self.hosts))
        generate_history(
            self.store,
            config.seed,
            self.hosts,
            config.days,
            config.results_per_day,
            config.pass_share,
            config.error_share,
            now,
        )
        self.builder = RecordBuilder(config.seed, self.store, self.hosts, self.window_start_ms)
        self.engine = QueryEngine(self.store, self.hosts, self.builder)
        self.tokens = TokenStore(config.token_ttl_seconds, config.refresh_ttl_seconds, clock=time.time)
        self.faults = FaultInjector(config.faults)
        self._hosts_by_id = {host.host_id: host for host in self.hosts}
        self._hosts_by_sequence = {host.host_sequence_id: host for host in self.hosts}
        self._keys_by_id = {key.key_id: key for key in self.keys}
        self._calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self._add_lock = threading.Lock()

    def now_ms(self) -> int:
        """The simulator's current time: fixed by config, or the wall clock."""
        return self.fixed_now_ms if self.fixed_now_ms is not None else real_now_ms()

    def count_call(self, endpoint: str) -> None:
        """Record one call of `endpoint` (e.g. `POST /results`)."""
        with self._calls_lock:
            self._calls[endpoint] += 1

    def call_counts(self) -> dict[str, int]:
        """A copy of the per-endpoint call counts."""
        with self._calls_lock:
            return dict(self._calls)

    def reset_call_counts(self) -> None:
        """Forget all call counts."""
        with self._calls_lock:
            self._calls.clear()

    def host_by_reference(self, reference: str) -> HostIdentity | None:
        """A host by `host_id`, or by integer `host_sequence_id` (both are accepted by the API)."""
        host = self._hosts_by_id.get(reference)
        if host is None and reference.isdigit():
            host = self._hosts_by_sequence.get(int(reference))
        return host

    def key_by_id(self, key_id: int) -> SshKeyIdentity | None:
        """An SSH key by its integer id."""
        return self._keys_by_id.get(key_id)

    def add_results(self, count: int, end_ms: int | None, status: str | None) -> list[int]:
        """Commit new results (end time defaults to now); returns their sequence ids."""
        if status is not None and status not in catalog.STATUS_CODES:
            raise ValueError(f"status must be one of {', '.join(catalog.STATUS_NAMES)}")
        with self._add_lock:
            return add_results(
                self.store,
                self.config.seed,
                self.hosts,
                count,
                self.now_ms() if end_ms is None else end_ms,
                None if status is None else catalog.STATUS_CODES[status],
                self.config.pass_share,
                self.config.error_share,
            )

    def result_ids(
        self,
        end_from_ms: int | None,
        end_before_ms: int | None,
        include_pass: bool,
        after_sequence_id: int,
        max_sequence_id: int | None,
    ) -> list[int]:
        """Ground truth for tests (a plain loop, independent of the query engine)."""
        return ground_truth(
            self.store, end_from_ms, end_before_ms, include_pass, after_sequence_id, max_sequence_id
        )
