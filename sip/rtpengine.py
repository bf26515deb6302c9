"""Start and stop rtpengine, the media relay every call with SDP goes through: the one copy of
that logic, used by `make sip` (`manage.py run_kamailio`) and the SIP tests.

Debian's `rtpengine-daemon` (10.5) runs in userspace (`--table=-1`: no kernel module), in the
foreground, logging to stderr. Kamailio's `rtpengine` module talks to it over the "ng" control
protocol (bencoded dictionaries over UDP) on a loopback port; RTP/SRTP uses a port range on
the media interface. `ng()` speaks the same protocol, for the tests and for health checks.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .processes import stop_process

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_RUNTIME_DIR = BASE_DIR / "var" / "rtpengine"


class RtpengineError(RuntimeError):
    pass


def rtpengine_binary() -> str:
    path = shutil.which("rtpengine") or "/usr/bin/rtpengine"
    if not Path(path).exists():
        raise RtpengineError(
            "rtpengine is not installed: run `make system-deps` (Debian package rtpengine-daemon)."
        )
    return path


# --- bencode (the ng protocol's encoding) -----------------------------------------------------


def bencode(value) -> bytes:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list | tuple):
        return b"l" + b"".join(bencode(item) for item in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes):
    value, end = _bdecode(data, 0)
    if end != len(data):
        raise ValueError("trailing data after the bencoded value")
    return value


def _bdecode(data: bytes, i: int):
    kind = data[i : i + 1]
    if kind == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    if kind in (b"l", b"d"):
        items, i = [], i + 1
        while data[i : i + 1] != b"e":
            item, i = _bdecode(data, i)
            items.append(item)
        if kind == b"l":
            return items, i + 1
        return dict(zip(items[::2], items[1::2], strict=True)), i + 1
    colon = data.index(b":", i)
    length = int(data[i:colon])
    raw = data[colon + 1 : colon + 1 + length]
    try:
        return raw.decode(), colon + 1 + length
    except UnicodeDecodeError:
        return raw, colon + 1 + length


def ng(address: tuple[str, int], command: dict, *, timeout: float = 2.0) -> dict:
    """One ng command (e.g. {"command": "ping"}) and rtpengine's answer as a dict."""
    cookie = secrets.token_hex(6).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(cookie + b" " + bencode(command), address)
        while True:
            data = sock.recv(65535)
            answer_cookie, _, body = data.partition(b" ")
            if answer_cookie == cookie:
                return bdecode(body)


# --- the daemon -----------------------------------------------------------------------------


def free_port_range(
    size: int, *, host: str = "127.0.0.1", low: int = 10000, high: int = 32000
) -> tuple[int, int]:
    """A slice of `size` UDP ports below the kernel's ephemeral range (32768+), where nothing
    else picks ports at random, whose first and last ports are free right now. rtpengine skips
    a port in its range that happens to be taken, so a spot check is enough."""
    for _ in range(50):
        start = random.randrange(low, high - size)  # noqa: S311 — spreading, not security
        try:
            for port in (start, start + size // 2, start + size - 1):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.bind((host, port))
        except OSError:
            continue
        return start, start + size - 1
    raise RtpengineError(f"No free range of {size} UDP ports on {host}.")


@dataclass
class RtpengineConfig:
    """What one rtpengine run needs; turned into the command line by `command()`.

    `interface` is rtpengine's `--interface`: the address media flows on, optionally
    `LOCAL!ADVERTISED` behind 1:1 NAT (e.g. "10.0.0.5!203.0.113.5")."""

    ng_host: str = "127.0.0.1"
    ng_port: int = 2223
    interface: str = "127.0.0.1"
    port_min: int = 30000
    port_max: int = 30199
    # Seconds without media before rtpengine drops a call by itself (a phone that vanished).
    timeout: int = 60
    # Seconds a deleted call stays in memory (late packets, a retransmitted BYE); None: 30.
    delete_delay: int | None = None
    log_level: int = 5  # 5 = notice; 6 = info shows every offer/answer; 7 = debug
    runtime_dir: Path = DEFAULT_RUNTIME_DIR
    # host:port of rtpengine's HTTP listener, whose /metrics Prometheus scrapes (its own
    # counters); empty: none. Keep it on loopback: the listener also serves its control API.
    metrics_listen: str = ""
    extra_args: list[str] = field(default_factory=list)

    @property
    def ng_address(self) -> tuple[str, int]:
        return self.ng_host, self.ng_port

    @property
    def kamailio_socket(self) -> str:
        """The `rtpengine_sock` value for Kamailio's rtpengine module."""
        return f"udp:{self.ng_host}:{self.ng_port}"

    @property
    def pid_file(self) -> Path:
        return Path(self.runtime_dir) / "rtpengine.pid"

    def command(self) -> list[str]:
        cmd = [
            rtpengine_binary(),
            # Never Debian's /etc/rtpengine/rtpengine.conf: everything is on this command line.
            "--config-file=none",
            "--foreground",
            "--log-stderr",
            f"--log-level={self.log_level}",
            # Userspace forwarding only: no kernel module (not loaded on these machines).
            "--table=-1",
            f"--pidfile={self.pid_file}",
            f"--interface={self.interface}",
            f"--listen-ng={self.ng_host}:{self.ng_port}",
            f"--port-min={self.port_min}",
            f"--port-max={self.port_max}",
            f"--timeout={self.timeout}",
            # Towards browsers, DTLS with the relay as the server: the browser (always "active"
            # when it answers) starts the handshake. Without it rtpengine starts one as client
            # as soon as ICE meets a browser's offer, then turns passive with the answer, and
            # Chromium's handshake never completes.
            "--dtls-passive",
            "--num-threads=2",
        ]
        if self.delete_delay is not None:
            cmd.append(f"--delete-delay={self.delete_delay}")
        if self.metrics_listen:
            host = self.metrics_listen.rpartition(":")[0]
            if not _is_loopback(host):
                # The HTTP listener serves rtpengine's control API too, not only /metrics.
                raise RtpengineError(
                    f"RTPENGINE_METRICS is {self.metrics_listen!r}: rtpengine's HTTP listener (its "
                    "/metrics and its control API) goes on a loopback address only, e.g. 127.0.0.1:9101."
                )
            cmd.append(f"--listen-http={self.metrics_listen}")
        return cmd + list(self.extra_args)

    def prepare(self) -> None:
        Path(self.runtime_dir).mkdir(parents=True, exist_ok=True)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def config_from_environment(*, default_interface: str = "127.0.0.1", **overrides) -> RtpengineConfig:
    """What `make sip` starts: RTPENGINE_NG (control address, default 127.0.0.1:2223),
    RTPENGINE_INTERFACE (media address, default the SIP listen address) and
    RTPENGINE_PORT_MIN / RTPENGINE_PORT_MAX (default 30000–30199), RTPENGINE_METRICS (host:port
    on the loopback of its Prometheus /metrics, default 127.0.0.1:9101; empty: none)."""
    ng_host, _, ng_port = os.environ.get("RTPENGINE_NG", "127.0.0.1:2223").rpartition(":")
    values: dict = {
        "ng_host": ng_host or "127.0.0.1",
        "ng_port": int(ng_port),
        "interface": os.environ.get("RTPENGINE_INTERFACE", default_interface),
        "port_min": int(os.environ.get("RTPENGINE_PORT_MIN", "30000")),
        "port_max": int(os.environ.get("RTPENGINE_PORT_MAX", "30199")),
        "runtime_dir": Path(os.environ.get("RTPENGINE_RUNTIME_DIR", DEFAULT_RUNTIME_DIR)),
        "metrics_listen": os.environ.get("RTPENGINE_METRICS", "127.0.0.1:9101"),
    }
    values.update(overrides)
    return RtpengineConfig(**values)


class Rtpengine:
    """An rtpengine process, stopped by its PID.

    >>> with Rtpengine(config, log_path=tmp / "rtpengine.log") as relay:
    ...     relay.calls()
    []

    `new_session=False` leaves it in the caller's process group, so Ctrl-C in the terminal of
    `make sip` reaches it as it reaches Kamailio.
    """

    def __init__(
        self, config: RtpengineConfig, *, log_path: Path | None = None, new_session: bool = True
    ) -> None:
        self.config = config
        self.log_path = Path(log_path or Path(config.runtime_dir) / "rtpengine.log")
        self.new_session = new_session
        self.process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 10.0, log_to_terminal: bool = False) -> Rtpengine:
        self.config.prepare()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 — our own command line
                self.config.command(),
                stdin=subprocess.DEVNULL,
                stdout=None if log_to_terminal else log,
                stderr=None if log_to_terminal else subprocess.STDOUT,
                start_new_session=self.new_session,
            )
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, *, timeout: float) -> None:
        """Until rtpengine answers an ng ping."""
        deadline = time.monotonic() + timeout
        process = self.process
        assert process is not None, "start() it first"
        while True:
            if process.poll() is not None:
                raise RtpengineError(f"rtpengine exited with {process.returncode}:\n{self.log()[-4000:]}")
            with contextlib.suppress(OSError, ValueError):
                if ng(self.config.ng_address, {"command": "ping"}, timeout=0.3).get("result") == "pong":
                    return
            if time.monotonic() > deadline:
                raise RtpengineError(f"rtpengine was not ready within {timeout}s:\n{self.log()[-4000:]}")
            time.sleep(0.05)

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM to its PID, then SIGKILL if it lingers."""
        if self.process is None:
            return
        stop_process(self.process, timeout=timeout)
        self.process = None

    def __enter__(self) -> Rtpengine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def ng(self, command: dict) -> dict:
        return ng(self.config.ng_address, command)

    def calls(self, *, limit: int = 1000) -> list[str]:
        """Call-IDs of the sessions rtpengine holds now (at most `limit` of them)."""
        return list(self.ng({"command": "list", "limit": limit}).get("calls", []))

    def query(self, call_id: str) -> dict | None:
        """rtpengine's view of one call (tags, streams, packet counts), or None if it has none."""
        answer = self.ng({"command": "query", "call-id": call_id})
        return answer if answer.get("result") == "ok" else None
