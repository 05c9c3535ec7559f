"""Simulated hosts: a small identity per host, full JSON built on demand.

Only the identity (ids, names, addresses, first/last seen) is kept in memory; the
large raw `Host` object with its OS block is rebuilt from the seed when asked for,
so the same host always serialises to the same JSON.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from . import catalog
from .rand import hex_digits, rng_for, uuid_from
from .timeutil import DAY_MS, format_ms

NEVER_SEEN_SHARE = 0.05
ACTIVE_SHARE = 0.6


@dataclass(frozen=True)
class HostIdentity:
    """What the rest of the simulator needs to know about a host."""

    index: int
    host_id: str
    host_sequence_id: int
    hostname: str
    ip_addr: str
    node_name: str
    role: str
    tags: tuple[str, ...]
    queue_name: str
    credentials_id: str
    first_seen_ms: int | None
    last_seen_ms: int | None
    os_index: int
    cpu_index: int
    dmi_index: int

    @property
    def seen(self) -> bool:
        """A host Sandfly never reached has no last-seen time and no OS data."""
        return self.last_seen_ms is not None


@dataclass(frozen=True)
class HostKeyStats:
    """SSH Hunter counters of one host (the `users_*`/`keys_*` summary fields)."""

    keys_current: int = 0
    keys_total: int = 0
    users_current: int = 0
    users_total: int = 0
    users_with_key: int | None = None
    key_first_seen_ms: int | None = None
    key_last_seen_ms: int | None = None
    has_duplicate_keys: bool = False
    banned_key_violation: bool = False
    zone_violation_keys: int = 0


def ip_for(index: int) -> str:
    """A unique private IPv4 address per host index."""
    second = 20 + index // (250 * 256)
    third = (index // 250) % 256
    fourth = index % 250 + 2
    return f"10.{second}.{third}.{fourth}"


def generate_hosts(
    seed: int, count: int, window_start_ms: int, today_start_ms: int, now_ms: int
) -> list[HostIdentity]:
    """Build the fleet: mostly active hosts, some last seen days ago, a few never seen.

    Host 0 is always active so every day of history has at least one host to scan.
    """
    rng = rng_for(seed, "hosts")
    hosts: list[HostIdentity] = []
    host_sequence_id = 0
    for index in range(count):
        host_sequence_id += 1 + (rng.randrange(3) if index else 0)
        hosts.append(_one_host(rng, seed, index, host_sequence_id, window_start_ms, today_start_ms, now_ms))
    return hosts


def _one_host(
    rng: random.Random,
    seed: int,
    index: int,
    host_sequence_id: int,
    window_start_ms: int,
    today_start_ms: int,
    now_ms: int,
) -> HostIdentity:
    """Draw one host's identity; the draw order is fixed so the fleet is reproducible."""
    role = rng.choice(catalog.HOST_ROLES)
    site = rng.choice(catalog.SITES)
    environment = rng.choice(catalog.ENVIRONMENTS)
    node_name = f"{role}-{index + 1:02d}.{site}.example.internal"
    ip_addr = ip_for(index)
    hostname = ip_addr if rng.random() < 0.7 else node_name
    never_seen = index > 0 and rng.random() < NEVER_SEEN_SHARE
    active = index == 0 or rng.random() < ACTIVE_SHARE or window_start_ms >= today_start_ms
    last_seen: int | None
    first_seen: int | None
    if never_seen:
        last_seen = first_seen = None
        host_id = hostname
    else:
        low = today_start_ms if active else window_start_ms
        high = now_ms if active else today_start_ms - 1
        last_seen = _whole_second(rng.randint(low, max(low, high)))
        if rng.random() < 0.8:
            first_seen = _whole_second(window_start_ms - rng.randint(1, 120) * DAY_MS + rng.randrange(DAY_MS))
        else:
            first_seen = _whole_second(rng.randint(min(window_start_ms, last_seen), last_seen))
        host_id = hashlib.sha256(f"{seed}:host-key:{index}".encode()).hexdigest()
    return HostIdentity(
        index=index,
        host_id=host_id,
        host_sequence_id=host_sequence_id,
        hostname=hostname,
        ip_addr=ip_addr,
        node_name=node_name,
        role=role,
        tags=(environment, *catalog.ROLE_TAGS[role]),
        queue_name=rng.choice(catalog.QUEUES),
        credentials_id=rng.choice(catalog.CREDENTIALS),
        first_seen_ms=first_seen,
        last_seen_ms=last_seen,
        os_index=rng.randrange(len(catalog.OS_PROFILES)),
        cpu_index=rng.randrange(len(catalog.CPU_PROFILES)),
        dmi_index=rng.randrange(len(catalog.DMI_PROFILES)),
    )


def _whole_second(ms: int) -> int:
    """Host timestamps are whole seconds, like the real server's."""
    return ms - ms % 1000


def _ts(ms: int | None) -> str | None:
    """Format an optional timestamp (null stays null)."""
    return None if ms is None else format_ms(ms)


@dataclass(frozen=True)
class HostCounters:
    """Result counts of one host, by status."""

    alert: int = 0
    error: int = 0
    passed: int = 0

    @property
    def total(self) -> int:
        """All results of the host."""
        return self.alert + self.error + self.passed


class HostDetails:
    """Deterministic per-host values derived from the seed (uptime, load, hardware)."""

    def __init__(self, seed: int, host: HostIdentity) -> None:
        rng = rng_for(seed, "host-detail", host.index)
        self.cores = rng.choice((1, 2, 2, 4, 4, 8, 16))
        self.memory_kb = self.cores * rng.choice((2, 4, 8)) * 1_048_576
        self.uptime_days = rng.randint(0, 400)
        self.load = round(rng.uniform(0.0, 0.9) * self.cores, 2)
        self.run_id = uuid_from(rng)
        self.machine_id = hex_digits(rng, 32)
        self.product_uuid = uuid_from(rng)
        self.mac = "52:54:00:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
        self.disk_bytes = rng.choice((20, 40, 80, 200, 500)) * 1_073_741_824
        self.disk_used_pct = rng.randint(8, 93)
        self.scan_seconds = rng.randint(3, 45)
        self.version = rng.randint(1, 6)
        self.host_key_b64 = "AAAAC3NzaC1lZDI1NTE5AAAAI" + hex_digits(rng, 43)
        self.fingerprint = "SHA256:" + hashlib.sha256(self.host_key_b64.encode()).hexdigest()[:43]


def os_block(seed: int, host: HostIdentity) -> dict | None:
    """The `Os` object (hardware, info, performance, time) of a seen host; None if never seen."""
    if not host.seen or host.last_seen_ms is None:
        return None
    details = HostDetails(seed, host)
    profile = catalog.OS_PROFILES[host.os_index]
    cpu = catalog.CPU_PROFILES[host.cpu_index]
    dmi = catalog.DMI_PROFILES[host.dmi_index]
    seen = host.last_seen_ms
    return {
        "hardware": {
            "cpu": _cpu_block(cpu, details.cores),
            "dmi": _dmi_block(dmi, details),
            "network": {"interfaces": _interfaces(seed, host, details)},
        },
        "info": _info_block(host, profile, cpu, details, seen),
        "performance": _performance_block(details),
        "time": {
            "system_clock_time": format_ms(seen),
            "system_clock_time_unix": seen // 1000,
            "sandfly_node_time": format_ms(seen - 1000),
            "sandfly_node_time_unix": seen // 1000 - 1,
        },
    }


def _cpu_block(cpu: catalog.CpuProfile, cores: int) -> dict:
    """`os.hardware.cpu`, as /proc/cpuinfo reports the first processor."""
    return {
        "address_sizes": ["46 bits physical", "48 bits virtual"] if cpu.arch == "x86_64" else [],
        "apicid": 0,
        "architecture": 8 if cpu.arch == "aarch64" else 0,
        "bogo_mips": round(cpu.mhz * 2, 2),
        "bugs": list(cpu.bugs),
        "cache_alignment": 64,
        "cache_size": 32768,
        "cl_flush_size": 64,
        "core_id": 0,
        "cores": cores,
        "family": cpu.family,
        "flags": list(cpu.flags),
        "fpu": cpu.arch == "x86_64",
        "fpu_exception": cpu.arch == "x86_64",
        "id_level": 13 if cpu.arch == "x86_64" else 0,
        "implementer": cpu.implementer,
        "initial_apicid": 0,
        "mhz": cpu.mhz,
        "microcode": cpu.microcode,
        "model": cpu.model,
        "model_name": cpu.model_name,
        "part": cpu.part,
        "physical_id": 0,
        "power_management": "",
        "processor": 0,
        "revision": 1 if cpu.arch == "aarch64" else 0,
        "siblings": cores,
        "stepping": cpu.stepping,
        "variant": "0x3" if cpu.arch == "aarch64" else "",
        "vendor_id": cpu.vendor_id,
        "wp": cpu.arch == "x86_64",
    }


def _dmi_block(dmi: catalog.DmiProfile, details: HostDetails) -> dict:
    """`os.hardware.dmi`: firmware and chassis identity."""
    return {
        "bios_date": dmi.bios_date,
        "bios_vendor": dmi.bios_vendor,
        "bios_version": dmi.bios_version,
        "chassis_asset_tag": "",
        "chassis_serial": "",
        "chassis_type": dmi.chassis_type,
        "chassis_vendor": dmi.chassis_vendor,
        "chassis_version": "",
        "modalias": f"dmi:bvn{dmi.bios_vendor.replace(' ', '')}:bvr{dmi.bios_version}:",
        "product_family": dmi.product_family,
        "product_name": dmi.product_name,
        "product_serial": "",
        "product_uuid": details.product_uuid,
        "product_version": dmi.product_version,
        "sys_vendor": dmi.sys_vendor,
    }


def _interfaces(seed: int, host: HostIdentity, details: HostDetails) -> list[dict]:
    """Loopback plus one Ethernet interface carrying the host's address."""
    rng = rng_for(seed, "host-net", host.index)
    stats_keys = (
        "received_bytes",
        "received_compressed",
        "received_drops",
        "received_errors",
        "received_fifo_errors",
        "received_frame_errors",
        "received_multicast",
        "received_packets",
        "transmitted_bytes",
        "transmitted_carrier_errors",
        "transmitted_collisions",
        "transmitted_compressed",
        "transmitted_drops",
        "transmitted_errors",
        "transmitted_fifo_errors",
        "transmitted_packets",
    )

    def stats(scale: int) -> dict:
        return {
            key: (rng.randrange(scale) if key.endswith(("bytes", "packets")) else 0) for key in stats_keys
        }

    return [
        {
            "name": "lo",
            "hardware_mac": "",
            "ip_address": ["127.0.0.1/8"],
            "broadcast": False,
            "loopback": True,
            "multicast": False,
            "point_to_point": False,
            "running": True,
            "up": True,
            "wireless": False,
            "stats": stats(10_000_000),
        },
        {
            "name": "eth0",
            "hardware_mac": details.mac,
            "ip_address": [f"{host.ip_addr}/16"],
            "broadcast": True,
            "loopback": False,
            "multicast": True,
            "point_to_point": False,
            "running": True,
            "up": True,
            "wireless": False,
            "stats": stats(5_000_000_000),
        },
    ]


def _info_block(
    host: HostIdentity, profile: catalog.OsProfile, cpu: catalog.CpuProfile, details: HostDetails, seen: int
) -> dict:
    """`os.info`: kernel, identity, filesystems and os-release."""
    release = (
        profile.kernel_release.replace("x86_64", cpu.arch) if cpu.arch != "x86_64" else profile.kernel_release
    )
    used = details.disk_bytes * details.disk_used_pct // 100
    return {
        "arch": cpu.arch,
        "boot_cmdline": f"BOOT_IMAGE=/vmlinuz-{release} root=/dev/vda1 ro quiet",
        "kernel_tainted_state": [],
        "machine": cpu.arch,
        "machine_id": details.machine_id,
        "mounts": [
            {
                "device": "/dev/vda1",
                "dummy": "",
                "fs_type": "ext4" if profile.release_id in ("ubuntu", "debian") else "xfs",
                "mount_point": "/",
                "options": "rw,relatime",
                "size": details.disk_bytes,
                "free": details.disk_bytes - used,
                "avail": details.disk_bytes - used - details.disk_bytes // 20,
                "used": used,
                "used_percent": details.disk_used_pct,
                "note": "",
            }
        ],
        "node": host.node_name,
        "os_release": {
            "bug_report_url": profile.bug_report_url,
            "build_id": "",
            "cpe_name": "",
            "documentation_url": "",
            "home_url": profile.home_url,
            "id": profile.release_id,
            "id_like": profile.id_like,
            "logo": "",
            "name": profile.name,
            "pretty_name": profile.pretty_name,
            "privacy_policy_url": "",
            "support_url": profile.support_url,
            "variant": "",
            "variant_id": "",
            "version": profile.version,
            "version_codename": profile.codename,
            "version_id": profile.version_id,
        },
        "platform": profile.release_id,
        "product_serial": "",
        "release": release,
        "selinux_context": "",
        "selinux_status": {
            "enabled": profile.release_id in ("rhel", "rocky", "amzn"),
            "enabled_mls": False,
            "enforce_mode_boot": "enforcing" if profile.release_id in ("rhel", "rocky") else "",
            "enforce_mode_current": "enforcing" if profile.release_id in ("rhel", "rocky") else "",
        },
        "system": "Linux",
        "uname": ["Linux", host.node_name, release, profile.kernel_version, cpu.arch],
        "uptime_date": format_ms(seen - details.uptime_days * DAY_MS),
        "uptime_days": float(details.uptime_days),
        "uuid": details.product_uuid,
        "version": profile.kernel_version,
    }


def _performance_block(details: HostDetails) -> dict:
    """`os.performance`: load averages and memory."""
    load = details.load
    cores = details.cores
    return {
        "cpu": {
            "one_min": load,
            "five_min": round(load * 0.8, 2),
            "fifteen_min": round(load * 0.6, 2),
            "one_min_core_adjusted": round(load / cores, 3),
            "five_min_core_adjusted": round(load * 0.8 / cores, 3),
            "fifteen_min_core_adjusted": round(load * 0.6 / cores, 3),
            "raw": {},
        },
        "memory": {
            "total": details.memory_kb,
            "free": details.memory_kb // 4,
            "available": details.memory_kb // 2,
            "buffers": details.memory_kb // 40,
            "cached": details.memory_kb // 3,
            "swap_total": 0,
            "swap_free": 0,
        },
    }


def raw_host(seed: int, host: HostIdentity, counters: HostCounters) -> dict:
    """The raw `Host` object of `GET /hosts` (summary=false) and `GET /hosts/{id}`."""
    details = HostDetails(seed, host)
    os_data = os_block(seed, host)
    seen = host.seen
    return {
        "host_id": host.host_id,
        "id": host.host_id,
        "host_sequence_id": host.host_sequence_id,
        "hostname": host.hostname,
        "active": True,
        "authentication_status": "ok" if seen else "failed",
        "credentials_id": host.credentials_id,
        "jump_hosts": [],
        "queue_name": host.queue_name,
        "override_directory": "",
        "ssh_port": 22,
        "verify_host_key": False,
        "ssh_key_fingerprint": details.fingerprint if seen else None,
        "first_seen_ip_addr": host.ip_addr if seen else None,
        "last_seen_ip_addr": host.ip_addr if seen else None,
        "date_first_seen": _ts(host.first_seen_ms),
        "date_last_seen": _ts(host.last_seen_ms),
        "date_last_scan": _ts(host.last_seen_ms),
        "last_scan_duration_seconds": details.scan_seconds if seen else None,
        "run_id": details.run_id,
        "tags": list(host.tags),
        "version": details.version,
        "host_id_version": 2,
        "simulated": False,
        "results": {
            "alert": counters.alert,
            "error": counters.error,
            "pass": counters.passed,
            "total": counters.total,
        },
        "ssh": _ssh_block(host, details),
        "os": os_data,
        "data": {
            "explanation": "" if seen else "ssh: unable to authenticate, no supported methods remain",
            "os": os_data,
            "whitelisted": False,
        },
    }


def _ssh_block(host: HostIdentity, details: HostDetails) -> dict:
    """The host's SSH server identity, empty when the host was never reached."""
    if not host.seen:
        return {"banner": "", "negotiated_key_type": "", "port": 22, "keys": {}}
    profile = catalog.OS_PROFILES[host.os_index]
    return {
        "banner": profile.ssh_banner,
        "negotiated_key_type": "ssh-ed25519",
        "port": 22,
        "keys": {
            "ssh-ed25519": {
                "type": "ssh-ed25519",
                "bits": 256,
                "fingerprint": details.fingerprint,
                "public_key": details.host_key_b64,
            }
        },
    }


def host_summary(seed: int, host: HostIdentity, counters: HostCounters, keys: HostKeyStats) -> dict:
    """A `HostSummaryRollup` row (`GET /hosts?summary=true`)."""
    details = HostDetails(seed, host)
    seen = host.seen
    profile = catalog.OS_PROFILES[host.os_index]
    cpu = catalog.CPU_PROFILES[host.cpu_index]
    dmi = catalog.DMI_PROFILES[host.dmi_index]
    perf = _performance_block(details)["cpu"]
    row = {
        "host_id": host.host_id,
        "id": host.host_id,
        "host_sequence_id": host.host_sequence_id,
        "hostname": host.hostname,
        "active": True,
        "authentication_status": "ok" if seen else "failed",
        "credentials_id": host.credentials_id,
        "jump_hosts": [],
        "ssh_port": 22,
        "queue_name": host.queue_name,
        "override_directory": "",
        "run_id": details.run_id,
        "ssh_key_fingerprint": details.fingerprint if seen else None,
        "tags": list(host.tags),
        "version": details.version,
        "verify_host_key": False,
        "date_first_seen": _ts(host.first_seen_ms),
        "date_last_seen": _ts(host.last_seen_ms),
        "first_seen_ip_addr": host.ip_addr if seen else None,
        "last_seen_ip_addr": host.ip_addr if seen else None,
        "os_hardware_cpu_bugs": list(cpu.bugs) if seen else [],
        "os_hardware_cpu_cores": details.cores if seen else 0,
        "os_hardware_cpu_mhz": cpu.mhz if seen else 0.0,
        "os_hardware_cpu_model_name": cpu.model_name if seen else "",
        "os_hardware_dmi_bios_vendor": dmi.bios_vendor if seen else "",
        "os_hardware_dmi_chassis_vendor": dmi.chassis_vendor if seen else "",
        "os_hardware_dmi_product_family": dmi.product_family if seen else "",
        "os_hardware_dmi_product_name": dmi.product_name if seen else "",
        "os_hardware_dmi_sys_vendor": dmi.sys_vendor if seen else "",
        "os_info_uptime_date": _ts(host.last_seen_ms - details.uptime_days * DAY_MS)
        if seen and host.last_seen_ms is not None
        else None,
        "os_info_uptime_days": details.uptime_days if seen else 0,
    }
    row.update(_os_info_fields(host, profile, cpu))
    for name in ("one_min", "five_min", "fifteen_min"):
        row[f"os_performance_cpu_{name}"] = perf[name] if seen else 0.0
        row[f"os_performance_cpu_{name}_core_adjusted"] = perf[f"{name}_core_adjusted"] if seen else 0.0
    row.update(_counter_fields(counters))
    row.update(_key_fields(keys))
    return row


def _os_info_fields(host: HostIdentity, profile: catalog.OsProfile, cpu: catalog.CpuProfile) -> dict:
    """The flat `os_info_*` fields shared by host summaries and SSH Hunter host rows."""
    seen = host.seen
    return {
        "os_info_arch": cpu.arch if seen else "",
        "os_info_machine": cpu.arch if seen else "",
        "os_info_node": host.node_name if seen else "",
        "os_info_os_release_id": profile.release_id if seen else "",
        "os_info_os_release_name": profile.name if seen else "",
        "os_info_os_release_version": profile.version if seen else "",
        "os_info_os_release_pretty_name": profile.pretty_name if seen else "",
        "os_info_os_release_version_codename": profile.codename if seen else "",
        "os_info_release": profile.kernel_release if seen else "",
    }


def _counter_fields(counters: HostCounters) -> dict:
    """`results_*` counters."""
    return {
        "results_alert": counters.alert,
        "results_error": counters.error,
        "results_pass": counters.passed,
        "results_total": counters.total,
    }


def _key_fields(keys: HostKeyStats) -> dict:
    """SSH Hunter fields of a host row."""
    return {
        "users_with_key": keys.users_with_key,
        "key_first_seen": _ts(keys.key_first_seen_ms),
        "key_last_seen": _ts(keys.key_last_seen_ms),
        "users_current": keys.users_current,
        "users_total": keys.users_total,
        "keys_current": keys.keys_current,
        "keys_total": keys.keys_total,
        "has_duplicate_keys": keys.has_duplicate_keys,
        "banned_key_violation": keys.banned_key_violation,
        "zone_violation_keys": keys.zone_violation_keys,
    }


def ssh_host_row(host: HostIdentity, counters: HostCounters, keys: HostKeyStats) -> dict:
    """An `SshHostSummary` row, as listed in an SSH key's `key_hosts`."""
    profile = catalog.OS_PROFILES[host.os_index]
    cpu = catalog.CPU_PROFILES[host.cpu_index]
    info = _os_info_fields(host, profile, cpu)
    row = {
        "node_name": host.node_name,
        "tags": list(host.tags),
        "host_id": host.host_id,
        "host_sequence_id": host.host_sequence_id,
        "target_address": host.hostname,
        "date_first_seen": _ts(host.first_seen_ms),
        "date_last_seen": _ts(host.last_seen_ms),
        "last_seen_ip_addr": host.ip_addr if host.seen else None,
        "os_info_arch": info["os_info_arch"],
        "os_info_machine": info["os_info_machine"],
        "os_info_os_release_name": info["os_info_os_release_name"],
        "os_info_os_release_pretty_name": info["os_info_os_release_pretty_name"],
        "os_info_release": info["os_info_release"],
    }
    row.update(_counter_fields(counters))
    row.update(_key_fields(keys))
    return row
