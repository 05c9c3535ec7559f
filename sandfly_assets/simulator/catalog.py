"""Static vocabularies the generated data draws from.

Sandfly names, MITRE ATT&CK tags, operating systems and hardware are written here
once, in plain tables, so generated records look like a real fleet's and the
generators stay short. Values are invented but plausible; the ATT&CK technique ids
are the public ones for the behaviour each sandfly describes.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUS_ALERT = 0
STATUS_ERROR = 1
STATUS_PASS = 2
STATUS_NAMES = ("alert", "error", "pass")
STATUS_CODES = {name: code for code, name in enumerate(STATUS_NAMES)}


@dataclass(frozen=True)
class SandflyDef:
    """One sandfly (detection module): what it looks for and which detail it reports."""

    name: str
    type: str
    engine: str
    severity: int
    detail: str
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    explanation: str

    @property
    def tags(self) -> list[str]:
        """Sandfly type first, then ATT&CK tactic and technique tags (dashboards split on these)."""
        return (
            [self.type]
            + [f"attack.tactic.{t}" for t in self.tactics]
            + [f"attack.id.{t}" for t in self.techniques]
        )


SANDFLIES: tuple[SandflyDef, ...] = (
    SandflyDef(
        "process_running_deleted",
        "process",
        "sandfly_engine_process",
        4,
        "process",
        ("defense_evasion",),
        ("T1070.004",),
        "A process is running whose executable binary has been deleted from disk.",
    ),
    SandflyDef(
        "process_masquerade_kernel_thread",
        "process",
        "sandfly_engine_process_masquerade_binary_renamed",
        5,
        "process",
        ("defense_evasion",),
        ("T1036.004",),
        "A user-space process is named like a kernel thread to blend into the process list.",
    ),
    SandflyDef(
        "process_hidden_from_proc",
        "process",
        "sandfly_engine_process",
        5,
        "process",
        ("defense_evasion",),
        ("T1014",),
        "A process answers to signals but is missing from the /proc listing, a sign of a rootkit.",
    ),
    SandflyDef(
        "process_running_from_tmp",
        "process",
        "sandfly_engine_process",
        3,
        "process",
        ("execution",),
        ("T1059.004",),
        "A process is executing from a world-writable temporary directory.",
    ),
    SandflyDef(
        "process_reverse_shell_socket",
        "process",
        "sandfly_engine_process",
        5,
        "process",
        ("execution", "command_and_control"),
        ("T1059.004", "T1071"),
        "A shell process has its standard input and output attached to a network socket.",
    ),
    SandflyDef(
        "process_crypto_miner_indicators",
        "process",
        "sandfly_engine_process",
        4,
        "process",
        ("impact",),
        ("T1496",),
        "A process shows the command line and resource use typical of a cryptocurrency miner.",
    ),
    SandflyDef(
        "process_binary_mismatched_name",
        "process",
        "sandfly_engine_process_masquerade_binary_mismatched",
        3,
        "process",
        ("defense_evasion",),
        ("T1036.005",),
        "The process name does not match the name of the binary it was started from.",
    ),
    SandflyDef(
        "file_suid_binary_in_tmp",
        "file",
        "sandfly_engine_file",
        4,
        "file",
        ("privilege_escalation",),
        ("T1548.001",),
        "A set-uid executable was found in a temporary directory.",
    ),
    SandflyDef(
        "file_hidden_executable_dev_shm",
        "file",
        "sandfly_engine_file",
        4,
        "file",
        ("defense_evasion",),
        ("T1564.001",),
        "A hidden executable file is stored in the shared-memory filesystem /dev/shm.",
    ),
    SandflyDef(
        "file_ld_preload_present",
        "file",
        "sandfly_engine_file",
        5,
        "file",
        ("persistence", "privilege_escalation"),
        ("T1574.006",),
        "The dynamic linker preload file forces a library into every process.",
    ),
    SandflyDef(
        "file_webshell_php_suspicious",
        "incident",
        "sandfly_engine_file",
        5,
        "file",
        ("persistence",),
        ("T1505.003",),
        "A PHP file under the web root contains code that runs commands passed in requests.",
    ),
    SandflyDef(
        "policy_sshd_root_login_permitted",
        "policy",
        "sandfly_engine_file",
        2,
        "file",
        ("initial_access",),
        ("T1021.004",),
        "The SSH daemon configuration permits direct root logins.",
    ),
    SandflyDef(
        "dir_hidden_in_tmp",
        "directory",
        "sandfly_engine_dir",
        2,
        "directory",
        ("defense_evasion",),
        ("T1564.001",),
        "A hidden directory exists under a temporary directory.",
    ),
    SandflyDef(
        "dir_cloaked_entry_detected",
        "directory",
        "sandfly_engine_cloaked_direntry",
        5,
        "directory",
        ("defense_evasion",),
        ("T1014",),
        "A directory entry is visible to raw reads but hidden from normal listings.",
    ),
    SandflyDef(
        "user_uid_zero_not_root",
        "user",
        "sandfly_engine_user",
        5,
        "user",
        ("persistence", "privilege_escalation"),
        ("T1136.001",),
        "An account other than root has user id 0.",
    ),
    SandflyDef(
        "user_password_empty",
        "user",
        "sandfly_engine_user_password_auditor",
        4,
        "user",
        ("credential_access",),
        ("T1078.003",),
        "A local account can log in with an empty password.",
    ),
    SandflyDef(
        "user_password_hash_duplicate",
        "user",
        "sandfly_engine_user_password_hash_duplicates",
        3,
        "user",
        ("credential_access",),
        ("T1078.003",),
        "Several local accounts share the same password hash.",
    ),
    SandflyDef(
        "user_ssh_authorized_keys_root",
        "user",
        "sandfly_engine_user",
        2,
        "user",
        ("persistence",),
        ("T1098.004",),
        "The root account has SSH authorized keys that allow remote logins.",
    ),
    SandflyDef(
        "log_wtmp_tampered_record_missing",
        "log",
        "sandfly_engine_log_tampering_lastlog_wtmp_missing_record",
        5,
        "log_wtmp",
        ("defense_evasion",),
        ("T1070.002",),
        "A login recorded in lastlog has no matching record in wtmp: the log was edited.",
    ),
    SandflyDef(
        "log_btmp_brute_force",
        "log",
        "sandfly_engine_btmp",
        3,
        "log_btmp",
        ("credential_access",),
        ("T1110.001",),
        "Many failed logins from the same address were recorded in btmp.",
    ),
    SandflyDef(
        "log_lastlog_history_missing",
        "log",
        "sandfly_engine_log_tampering_lastlog_history_missing_record",
        4,
        "log_wtmp",
        ("defense_evasion",),
        ("T1070.002",),
        "The lastlog entry for a user points to a session missing from login history.",
    ),
    SandflyDef(
        "cron_download_and_execute",
        "file",
        "sandfly_engine_cron",
        4,
        "cron",
        ("persistence", "execution"),
        ("T1053.003",),
        "A cron entry downloads a script from the network and pipes it to a shell.",
    ),
    SandflyDef(
        "systemd_unit_executes_from_tmp",
        "file",
        "sandfly_engine_systemd",
        4,
        "systemd",
        ("persistence",),
        ("T1543.002",),
        "A systemd service unit starts a binary located in a temporary directory.",
    ),
    SandflyDef(
        "kernel_module_hidden",
        "process",
        "sandfly_engine_kmodules",
        5,
        "kernel_module",
        ("persistence", "defense_evasion"),
        ("T1547.006", "T1014"),
        "A loaded kernel module is hidden from the module list.",
    ),
    SandflyDef(
        "recon_process_list_all",
        "recon",
        "sandfly_engine_process",
        0,
        "process",
        ("discovery",),
        ("T1057",),
        "Inventory of running processes.",
    ),
    SandflyDef(
        "recon_user_list_all",
        "recon",
        "sandfly_engine_user",
        0,
        "user",
        ("discovery",),
        ("T1087.001",),
        "Inventory of local user accounts.",
    ),
    SandflyDef(
        "recon_os_identify",
        "recon",
        "sandfly_engine_os_identify",
        0,
        "os",
        ("discovery",),
        ("T1082",),
        "Operating system and hardware identification.",
    ),
)

ERROR_MESSAGES = (
    "sandfly timed out after 300 seconds",
    "connection to host lost while sandfly was running",
    "sandfly skipped: host CPU load above configured limit",
    "permission denied reading /proc",
)

PASS_EXPLANATION = "No suspicious activity found."


@dataclass(frozen=True)
class OsProfile:
    """Identity of a Linux distribution as `/etc/os-release` and `uname` report it."""

    release_id: str
    id_like: str
    name: str
    pretty_name: str
    version: str
    version_id: str
    codename: str
    home_url: str
    support_url: str
    bug_report_url: str
    kernel_release: str
    kernel_version: str
    ssh_banner: str


OS_PROFILES: tuple[OsProfile, ...] = (
    OsProfile(
        "ubuntu",
        "debian",
        "Ubuntu",
        "Ubuntu 22.04.4 LTS",
        "22.04.4 LTS (Jammy Jellyfish)",
        "22.04",
        "jammy",
        "https://www.ubuntu.com/",
        "https://help.ubuntu.com/",
        "https://bugs.launchpad.net/ubuntu/",
        "5.15.0-105-generic",
        "#115-Ubuntu SMP Mon Apr 15 09:52:04 UTC 2024",
        "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6",
    ),
    OsProfile(
        "ubuntu",
        "debian",
        "Ubuntu",
        "Ubuntu 20.04.6 LTS",
        "20.04.6 LTS (Focal Fossa)",
        "20.04",
        "focal",
        "https://www.ubuntu.com/",
        "https://help.ubuntu.com/",
        "https://bugs.launchpad.net/ubuntu/",
        "5.4.0-176-generic",
        "#196-Ubuntu SMP Fri Mar 22 16:46:39 UTC 2024",
        "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11",
    ),
    OsProfile(
        "debian",
        "",
        "Debian GNU/Linux",
        "Debian GNU/Linux 12 (bookworm)",
        "12 (bookworm)",
        "12",
        "bookworm",
        "https://www.debian.org/",
        "https://www.debian.org/support",
        "https://bugs.debian.org/",
        "6.1.0-21-amd64",
        "#1 SMP PREEMPT_DYNAMIC Debian 6.1.90-1 (2024-05-03)",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2",
    ),
    OsProfile(
        "rhel",
        "fedora",
        "Red Hat Enterprise Linux",
        "Red Hat Enterprise Linux 9.3 (Plow)",
        "9.3 (Plow)",
        "9.3",
        "",
        "https://www.redhat.com/",
        "https://access.redhat.com/support",
        "https://issues.redhat.com/",
        "5.14.0-362.24.1.el9_3.x86_64",
        "#1 SMP PREEMPT_DYNAMIC Thu Feb 15 07:18:13 EST 2024",
        "SSH-2.0-OpenSSH_8.7",
    ),
    OsProfile(
        "rocky",
        "rhel centos fedora",
        "Rocky Linux",
        "Rocky Linux 8.9 (Green Obsidian)",
        "8.9 (Green Obsidian)",
        "8.9",
        "",
        "https://rockylinux.org/",
        "https://rockylinux.org/support",
        "https://bugs.rockylinux.org/",
        "4.18.0-513.24.1.el8_9.x86_64",
        "#1 SMP Thu Apr 4 18:13:02 UTC 2024",
        "SSH-2.0-OpenSSH_8.0",
    ),
    OsProfile(
        "amzn",
        "fedora",
        "Amazon Linux",
        "Amazon Linux 2023.4.20240528",
        "2023",
        "2023",
        "",
        "https://aws.amazon.com/linux/amazon-linux-2023/",
        "https://aws.amazon.com/premiumsupport/",
        "https://github.com/amazonlinux/amazon-linux-2023",
        "6.1.91-99.172.amzn2023.x86_64",
        "#1 SMP PREEMPT_DYNAMIC Wed May 22 08:30:56 UTC 2024",
        "SSH-2.0-OpenSSH_8.7",
    ),
)


@dataclass(frozen=True)
class CpuProfile:
    """A processor model as `/proc/cpuinfo` describes it."""

    model_name: str
    vendor_id: str
    arch: str
    mhz: float
    family: int
    model: int
    stepping: int
    implementer: str
    part: str
    microcode: str
    bugs: tuple[str, ...]
    flags: tuple[str, ...]


CPU_PROFILES: tuple[CpuProfile, ...] = (
    CpuProfile(
        "Intel(R) Xeon(R) Gold 6240 CPU @ 2.60GHz",
        "GenuineIntel",
        "x86_64",
        2599.998,
        6,
        85,
        7,
        "",
        "",
        "0x5003604",
        ("spectre_v1", "spectre_v2", "spec_store_bypass", "mds", "swapgs"),
        ("fpu", "vme", "de", "pse", "tsc", "msr", "pae", "sse4_2", "avx2", "aes"),
    ),
    CpuProfile(
        "AMD EPYC 7R13 Processor",
        "AuthenticAMD",
        "x86_64",
        2649.998,
        25,
        1,
        1,
        "",
        "",
        "0xa0011d1",
        ("sysret_ss_attrs", "spectre_v1", "spectre_v2", "spec_store_bypass"),
        ("fpu", "vme", "de", "pse", "tsc", "msr", "pae", "sse4_2", "avx2", "aes", "sha_ni"),
    ),
    CpuProfile(
        "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
        "GenuineIntel",
        "x86_64",
        2899.964,
        6,
        106,
        6,
        "",
        "",
        "0xd0003b9",
        ("spectre_v1", "spectre_v2", "spec_store_bypass", "swapgs", "mmio_stale_data"),
        ("fpu", "vme", "de", "pse", "tsc", "msr", "pae", "sse4_2", "avx2", "avx512f", "aes"),
    ),
    CpuProfile(
        "Neoverse-N1",
        "ARM",
        "aarch64",
        2500.0,
        0,
        0,
        1,
        "0x41",
        "0xd0c",
        "",
        ("spectre_v1", "spec_store_bypass"),
        ("fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics"),
    ),
)


@dataclass(frozen=True)
class DmiProfile:
    """Firmware and chassis identity as `/sys/class/dmi/id` reports it."""

    bios_vendor: str
    bios_version: str
    bios_date: str
    chassis_vendor: str
    chassis_type: str
    product_name: str
    product_family: str
    product_version: str
    sys_vendor: str


DMI_PROFILES: tuple[DmiProfile, ...] = (
    DmiProfile(
        "SeaBIOS",
        "1.15.0-1",
        "04/01/2014",
        "QEMU",
        "1",
        "Standard PC (Q35 + ICH9, 2009)",
        "",
        "pc-q35-6.2",
        "QEMU",
    ),
    DmiProfile(
        "VMware, Inc.",
        "VMW71.00V.21100432.B64.2301110304",
        "01/11/2023",
        "No Enclosure",
        "1",
        "VMware7,1",
        "",
        "None",
        "VMware, Inc.",
    ),
    DmiProfile("Amazon EC2", "1.0", "10/16/2017", "Amazon EC2", "1", "m6i.large", "", "", "Amazon EC2"),
    DmiProfile(
        "Dell Inc.", "2.19.1", "11/02/2023", "Dell Inc.", "23", "PowerEdge R650", "PowerEdge", "", "Dell Inc."
    ),
    DmiProfile(
        "Microsoft Corporation",
        "Hyper-V UEFI Release v4.1",
        "04/06/2022",
        "Microsoft Corporation",
        "3",
        "Virtual Machine",
        "Virtual Machine",
        "7.0",
        "Microsoft Corporation",
    ),
)

HOST_ROLES = (
    "web",
    "db",
    "app",
    "cache",
    "bastion",
    "k8s-node",
    "ci-runner",
    "mail",
    "dns",
    "log",
    "vpn",
    "build",
    "backup",
    "monitor",
    "proxy",
    "queue",
)
SITES = ("fra1", "iad2", "syd1", "lon3")
ROLE_TAGS = {
    "web": ("web",),
    "db": ("db", "pci"),
    "app": ("app",),
    "cache": ("cache",),
    "bastion": ("bastion", "dmz"),
    "k8s-node": ("kubernetes",),
    "ci-runner": ("ci",),
    "mail": ("mail", "dmz"),
    "dns": ("dns",),
    "log": ("logging",),
    "vpn": ("vpn", "dmz"),
    "build": ("ci",),
    "backup": ("backup",),
    "monitor": ("monitoring",),
    "proxy": ("web", "dmz"),
    "queue": ("app",),
}
ENVIRONMENTS = ("prod", "prod", "prod", "staging", "dev")
QUEUES = ("default", "default", "default", "dmz", "cloud")
CREDENTIALS = ("linux-scan-key", "linux-scan-key", "cloud-scan-key", "legacy-password")

USERNAMES = (
    "deploy",
    "ubuntu",
    "ec2-user",
    "ansible",
    "backup",
    "jenkins",
    "git",
    "postgres",
    "admin",
    "ops",
    "root",
    "alice",
    "bob",
    "carol",
    "dmitri",
    "erin",
    "farah",
    "gustavo",
    "hana",
    "ivan",
)
SHELLS = ("/bin/bash", "/bin/bash", "/bin/sh", "/usr/bin/zsh", "/usr/sbin/nologin")

FRIENDLY_ADJECTIVES = (
    "amber",
    "brisk",
    "calm",
    "dusty",
    "eager",
    "frosty",
    "gentle",
    "hollow",
    "icy",
    "jolly",
    "keen",
    "lucky",
    "misty",
    "nimble",
    "olive",
    "proud",
    "quiet",
    "rapid",
    "silent",
    "tidy",
    "umber",
    "vivid",
    "wild",
    "young",
)
FRIENDLY_ANIMALS = (
    "falcon",
    "otter",
    "badger",
    "heron",
    "lynx",
    "marten",
    "newt",
    "osprey",
    "panda",
    "quail",
    "raven",
    "salmon",
    "tapir",
    "urchin",
    "viper",
    "walrus",
    "yak",
    "zebra",
    "bison",
    "cobra",
    "dingo",
    "egret",
)
FRIENDLY_NOUNS = (
    "river",
    "canyon",
    "meadow",
    "summit",
    "harbor",
    "forest",
    "glacier",
    "island",
    "lagoon",
    "mesa",
    "prairie",
    "ridge",
    "spring",
    "tundra",
    "valley",
    "delta",
    "fjord",
    "grove",
)
KEY_TAGS = ("deploy", "automation", "break-glass", "contractor", "ci", "backup", "personal")
ZONES = (
    (1, "prod-web", "Production web tier"),
    (2, "prod-db", "Production databases"),
    (3, "corp-it", "Corporate IT servers"),
    (4, "build", "CI and build infrastructure"),
)

PROCESS_NAMES = (
    ("kworkerd", "/dev/shm/.x/kworkerd", "-c 198.51.100.23:4444"),
    ("xmrig", "/tmp/.cache/xmrig", "--donate-level 1 -o pool.example.net:3333"),
    ("sshd", "/usr/sbin/sshd", "-D"),
    ("bash", "/usr/bin/bash", "-i"),
    ("python3", "/usr/bin/python3.10", "/tmp/.u/agent.py"),
    ("nginx", "/usr/sbin/nginx", "-g daemon off;"),
    ("[kthreadd]", "/var/tmp/.k/kthreadd", ""),
    ("cron", "/usr/sbin/cron", "-f"),
    ("dockerd", "/usr/bin/dockerd", "-H fd://"),
    ("postgres", "/usr/lib/postgresql/14/bin/postgres", "-D /var/lib/postgresql/14/main"),
)
SUSPICIOUS_FILES = (
    "/tmp/.ICE-unix/.s/payload",
    "/dev/shm/.x/kworkerd",
    "/var/tmp/.k/kthreadd",
    "/etc/ld.so.preload",
    "/var/www/html/uploads/img.php",
    "/tmp/systemd-private/x86_64",
    "/usr/local/bin/.update",
    "/etc/ssh/sshd_config",
    "/root/.ssh/authorized_keys",
    "/home/deploy/.config/autostart.sh",
)
SUSPICIOUS_DIRS = ("/tmp/.ICE-unix/.s", "/dev/shm/.x", "/var/tmp/.k", "/tmp/...", "/usr/lib/.libcache")
CRON_PATHS = (
    "/etc/cron.d/sysupdate",
    "/var/spool/cron/crontabs/root",
    "/etc/crontab",
    "/etc/cron.hourly/0anacron",
)
SYSTEMD_UNITS = (
    "/etc/systemd/system/dbus-helper.service",
    "/etc/systemd/system/kdevtmpfsi.service",
    "/lib/systemd/system/network-check.service",
)
KERNEL_MODULES = ("diamorphine", "reptile_module", "nfs_cache_helper", "snd_timer_ex")
REMOTE_ADDRESSES = ("198.51.100.23", "203.0.113.77", "198.51.100.140", "203.0.113.9", "192.0.2.200")
