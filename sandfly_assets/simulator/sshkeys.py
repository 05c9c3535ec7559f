"""Simulated SSH Hunter data: keys found on hosts, with their users, hosts and zones.

Keys are few (thousands at most), so identities are kept in memory and the
summary/detail JSON is built on demand from them.
"""

from __future__ import annotations

import base64
import hashlib
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

from . import catalog
from .hosts import HostCounters, HostIdentity, HostKeyStats, ssh_host_row
from .rand import rng_for
from .timeutil import DAY_MS, day_start_ms, format_ms

NEVER_SEEN_SHARE = 0.04
ACTIVE_SHARE = 0.55


@dataclass(frozen=True)
class SshKeyIdentity:
    """One public key and where it was found."""

    key_id: int
    key_type: str
    bits: int
    blob: bytes
    friendly_name: str
    first_seen_ms: int | None
    last_seen_ms: int | None
    tags: tuple[str, ...]
    host_indices: tuple[int, ...]
    usernames: tuple[str, ...]
    zone_ids: tuple[int, ...]
    has_duplicate_keys: bool
    hosts_deleted: bool

    @property
    def key_value(self) -> str:
        """The key as it appears in an authorized_keys line."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode()}"

    @property
    def banned(self) -> bool:
        """Keys tagged with the reserved `Banned` tag."""
        return "Banned" in self.tags


def _wire_string(data: bytes) -> bytes:
    """SSH wire encoding of a string: 4-byte big-endian length, then bytes."""
    return struct.pack(">I", len(data)) + data


def _key_blob(rng: random.Random, key_type: str) -> tuple[bytes, int]:
    """A well-formed (but random) public key blob and its size in bits."""
    header = _wire_string(key_type.encode())
    if key_type == "ssh-ed25519":
        return header + _wire_string(rng.randbytes(32)), 256
    if key_type == "ecdsa-sha2-nistp256":
        return header + _wire_string(b"nistp256") + _wire_string(b"\x04" + rng.randbytes(64)), 256
    modulus = b"\x00" + bytes([0x80 | rng.randrange(128)]) + rng.randbytes(255)
    return header + _wire_string(b"\x01\x00\x01") + _wire_string(modulus), 2048


def generate_keys(
    seed: int,
    count: int,
    hosts: list[HostIdentity],
    window_start_ms: int,
    today_start_ms: int,
    now_ms: int,
) -> list[SshKeyIdentity]:
    """Draw `count` keys, each found on one to four seen hosts. Ids have small gaps, like database ids."""
    rng = rng_for(seed, "ssh-keys")
    seen_hosts = [host.index for host in hosts if host.seen]
    keys: list[SshKeyIdentity] = []
    key_id = 0
    for number in range(count):
        key_id += 1 + (rng.randrange(3) if number else 0)
        key_type = rng.choices(("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"), weights=(70, 25, 5))[0]
        blob, bits = _key_blob(rng, key_type)
        name = "-".join(
            (
                rng.choice(catalog.FRIENDLY_ADJECTIVES),
                rng.choice(catalog.FRIENDLY_ANIMALS),
                rng.choice(catalog.FRIENDLY_NOUNS),
            )
        )
        first_seen, last_seen = _seen_window(rng, window_start_ms, today_start_ms, now_ms)
        host_count = rng.randint(1, min(4, len(seen_hosts)))
        tags = tuple(sorted(rng.sample(catalog.KEY_TAGS, rng.randint(0, 2))))
        if rng.random() < 0.03:
            tags = (*tags, "Banned")
        keys.append(
            SshKeyIdentity(
                key_id=key_id,
                key_type=key_type,
                bits=bits,
                blob=blob,
                friendly_name=name,
                first_seen_ms=first_seen,
                last_seen_ms=last_seen,
                tags=tags,
                host_indices=tuple(sorted(rng.sample(seen_hosts, host_count))),
                usernames=tuple(sorted(rng.sample(catalog.USERNAMES, rng.randint(1, 3)))),
                zone_ids=tuple(sorted(rng.sample([zone[0] for zone in catalog.ZONES], rng.randint(0, 2)))),
                has_duplicate_keys=rng.random() < 0.05,
                hosts_deleted=rng.random() < 0.05,
            )
        )
    return keys


def _seen_window(
    rng: random.Random, window_start_ms: int, today_start_ms: int, now_ms: int
) -> tuple[int | None, int | None]:
    """First/last seen of a key: mostly seen today, some days ago, a few never."""
    if rng.random() < NEVER_SEEN_SHARE:
        return None, None
    active = rng.random() < ACTIVE_SHARE or window_start_ms >= today_start_ms
    low = today_start_ms if active else window_start_ms
    high = now_ms if active else today_start_ms - 1
    last_seen = rng.randint(low, max(low, high))
    last_seen -= last_seen % 1000
    first_seen = last_seen - rng.randint(0, 200) * DAY_MS - rng.randrange(DAY_MS)
    first_seen -= first_seen % 1000
    return first_seen, last_seen


def host_key_stats(keys: list[SshKeyIdentity], host_count: int) -> list[HostKeyStats]:
    """Aggregate the SSH Hunter counters of every host from the keys found on it."""
    per_host: list[list[SshKeyIdentity]] = [[] for _ in range(host_count)]
    for key in keys:
        for index in key.host_indices:
            per_host[index].append(key)
    return [_stats_for(index, host_keys) for index, host_keys in enumerate(per_host)]


def _stats_for(index: int, host_keys: list[SshKeyIdentity]) -> HostKeyStats:
    """Counters of one host; hosts without keys keep the defaults (users_with_key null)."""
    if not host_keys:
        return HostKeyStats()
    users = {user for key in host_keys for user in key.usernames}
    first = [key.first_seen_ms for key in host_keys if key.first_seen_ms is not None]
    last = [key.last_seen_ms for key in host_keys if key.last_seen_ms is not None]
    return HostKeyStats(
        keys_current=len(host_keys),
        keys_total=len(host_keys) + index % 2,
        users_current=len(users),
        users_total=len(users) + (1 if index % 3 == 0 else 0),
        users_with_key=len(users),
        key_first_seen_ms=min(first) if first else None,
        key_last_seen_ms=max(last) if last else None,
        has_duplicate_keys=any(key.has_duplicate_keys for key in host_keys),
        banned_key_violation=any(key.banned for key in host_keys),
        zone_violation_keys=0,
    )


def _hashes(blob: bytes) -> dict:
    """`hash` block: digests of the key blob."""
    return {
        "md5": hashlib.md5(blob, usedforsecurity=False).hexdigest(),
        "sha1": hashlib.sha1(blob, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "sha512": hashlib.sha512(blob).hexdigest(),
    }


def _fingerprint(blob: bytes) -> str:
    """OpenSSH-style `SHA256:<base64 without padding>` fingerprint."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _ts(ms: int | None) -> str | None:
    """Format an optional timestamp."""
    return None if ms is None else format_ms(ms)


def _zone_name(zone_id: int) -> str:
    """Name of a zone from the catalog."""
    return next(zone[1] for zone in catalog.ZONES if zone[0] == zone_id)


def key_summary(
    key: SshKeyIdentity, hosts: list[HostIdentity], counters: Callable[[int], HostCounters]
) -> dict:
    """An `SshKeySummary` row (`GET /sshhunter/summary`)."""
    key_hosts = [hosts[index] for index in key.host_indices]
    all_tags = sorted({tag for host in key_hosts for tag in host.tags})
    return {
        "id": key.key_id,
        "friendly_name": key.friendly_name,
        "key_type": key.key_type,
        "key_bits": key.bits,
        "key_parse_error": False,
        "key_value": key.key_value,
        "hash": _hashes(key.blob),
        "sha256_fingerprint": _fingerprint(key.blob),
        "first_seen": _ts(key.first_seen_ms),
        "last_seen": _ts(key.last_seen_ms),
        "key_tags": list(key.tags),
        "num_hosts_with_alerts": sum(1 for host in key_hosts if counters(host.index).alert > 0),
        "num_hosts_current": len(key_hosts),
        "num_users_current": len(key.usernames),
        "num_hosts_total": len(key_hosts) + (1 if key.hosts_deleted else 0),
        "num_users_total": len(key.usernames),
        "hosts_deleted": key.hosts_deleted,
        "has_duplicate_keys": key.has_duplicate_keys,
        "host_tags_all": all_tags,
        "zone_violation_hosts": 0,
        "permitted_zones_count": len(key.zone_ids),
        "permitted_zones_summary": [{"id": zone_id, "name": _zone_name(zone_id)} for zone_id in key.zone_ids],
    }


def key_detail(
    seed: int,
    key: SshKeyIdentity,
    hosts: list[HostIdentity],
    counters: Callable[[int], HostCounters],
    stats: list[HostKeyStats],
    window_start_ms: int,
) -> dict:
    """The `GET /sshhunter/key/{id}` object: the summary plus users, hosts, timeline and zones."""
    detail = key_summary(key, hosts, counters)
    key_hosts = [hosts[index] for index in key.host_indices]
    tag_sets = [set(host.tags) for host in key_hosts]
    detail["key_use_timeline"] = _timeline(seed, key)
    detail["key_users"] = [
        {
            "username": username,
            "hosts_with_key": len(key_hosts),
            "key_first_seen": _ts(key.first_seen_ms),
            "key_last_seen": _ts(key.last_seen_ms),
            "has_duplicate_keys": key.has_duplicate_keys,
            "banned_key_violation": key.banned,
            "zone_violation_hosts": 0,
        }
        for username in key.usernames
    ]
    detail["key_hosts"] = [ssh_host_row(host, counters(host.index), stats[host.index]) for host in key_hosts]
    detail["host_tags_common"] = sorted(set.intersection(*tag_sets)) if tag_sets else []
    detail["key_zones"] = [_zone(zone_id, window_start_ms) for zone_id in key.zone_ids]
    return detail


def _timeline(seed: int, key: SshKeyIdentity) -> list[dict]:
    """Daily use counts for up to a week before the key's last sighting."""
    if key.last_seen_ms is None or key.first_seen_ms is None:
        return []
    rng = rng_for(seed, "ssh-key-timeline", key.key_id)
    last_day = day_start_ms(key.last_seen_ms)
    first_day = max(day_start_ms(key.first_seen_ms), last_day - 6 * DAY_MS)
    return [
        {"begin": format_ms(day), "end": format_ms(day + DAY_MS), "count": rng.randint(1, 40)}
        for day in range(first_day, last_day + 1, DAY_MS)
    ]


def _zone(zone_id: int, window_start_ms: int) -> dict:
    """A `key_zones` entry; zone dates sit before the history window."""
    _, name, description = next(zone for zone in catalog.ZONES if zone[0] == zone_id)
    created = day_start_ms(window_start_ms) - (90 + zone_id * 7) * DAY_MS + 9 * 3_600_000
    return {
        "id": zone_id,
        "create_date": format_ms(created),
        "modification_date": format_ms(created + 30 * DAY_MS + 7 * 3_600_000),
        "name": name,
        "description": description,
        "hosts_count": 4 + zone_id * 3,
        "permitted_keys_count": 2 + zone_id,
        "violation_host_count": 0,
        "banned_keys_count": 0,
        "key_permitted": True,
    }
