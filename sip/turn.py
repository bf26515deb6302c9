"""TURN for the web phone: the ICE servers its calls may relay media through, with short-lived
credentials, and a coturn process for `make turn` and the tests.

A browser behind a NAT or firewall that blocks UDP cannot reach the media relay (rtpengine)
directly; through a TURN server (coturn) it sends its media over TCP or TLS to the TURN server,
which relays it to rtpengine. Credentials follow coturn's TURN REST API scheme
(`use-auth-secret` / `static-auth-secret`), so coturn needs no table of users:

    username   = "<expiry, unix seconds>:<extension number>@<hotline SIP domain>"
    credential = base64(HMAC-SHA1(WEB_PHONE_TURN_SECRET, username))

The browser gets only the derived credential, valid no longer than the SIP credential issued with
it (sip.webphone); the secret never leaves the dashboard and coturn.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac

from .processes import stop_process

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_RUNTIME_DIR = BASE_DIR / "var" / "turn"
ICE_TRANSPORT_POLICIES = ("all", "relay")
# stun:host[:port], turn:host[:port][?transport=udp|tcp], turns:host[:port][?transport=tcp]
# (RFC 7064 / 7065), IPv6 hosts in brackets.
_ICE_URL = re.compile(
    r"^(stun|turns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$"
)


class TurnError(RuntimeError):
    pass


def turn_urls() -> list[str]:
    """WEB_PHONE_TURN_URLS, each checked: a typo would otherwise only show as calls without audio
    behind a firewall."""
    urls = [url.strip() for url in getattr(settings, "WEB_PHONE_TURN_URLS", []) if url.strip()]
    for url in urls:
        if not _ICE_URL.match(url):
            raise ImproperlyConfigured(
                f"WEB_PHONE_TURN_URLS: {url!r} is not a stun:, turn: or turns: URL "
                "(e.g. turn:turn.example.vn:3478?transport=udp)."
            )
    return urls


def turn_secret() -> str:
    """coturn's static-auth-secret: WEB_PHONE_TURN_SECRET, or, with DEBUG on only, one derived
    from SECRET_KEY (what `make turn` gives its coturn). Never shown, logged or stored."""
    configured = getattr(settings, "WEB_PHONE_TURN_SECRET", "")
    if configured:
        if len(configured) < 16 or any(c.isspace() or c in "\"'\\#" for c in configured):
            raise ImproperlyConfigured(
                "WEB_PHONE_TURN_SECRET must be at least 16 characters without spaces, quotes, "
                "backslashes or '#' (coturn's configuration file holds it)."
            )
        return configured
    if not settings.DEBUG:
        raise ImproperlyConfigured("WEB_PHONE_TURN_URLS is set: WEB_PHONE_TURN_SECRET must be set too.")
    return salted_hmac("sip.turn.secret", "web phone", algorithm="sha256").hexdigest()


def require_usable_turn_settings() -> None:
    """The app servers' entry points (pbx_admin/wsgi.py, asgi.py) and `check --deploy`: TURN
    settings that cannot work stop the start with their message, instead of a 500 on the phone
    page or calls without audio later."""
    if turn_urls():
        turn_secret()
    ice_transport_policy()


def ice_transport_policy() -> str:
    """WEB_PHONE_ICE_TRANSPORT_POLICY: "all" (default), or "relay" to diagnose TURN (every call
    relayed, none direct). "relay" without TURN would leave every call without audio."""
    policy = getattr(settings, "WEB_PHONE_ICE_TRANSPORT_POLICY", "all") or "all"
    if policy not in ICE_TRANSPORT_POLICIES:
        raise ImproperlyConfigured("WEB_PHONE_ICE_TRANSPORT_POLICY must be all or relay.")
    if policy == "relay" and not any(url.startswith("turn") for url in turn_urls()):
        raise ImproperlyConfigured(
            "WEB_PHONE_ICE_TRANSPORT_POLICY=relay needs a turn: URL in WEB_PHONE_TURN_URLS."
        )
    return policy


def turn_credential(username: str, *, secret: str | None = None) -> str:
    key = (secret if secret is not None else turn_secret()).encode()
    return base64.b64encode(hmac.new(key, username.encode(), hashlib.sha1).digest()).decode()


def ice_servers(*, user: str, expires: int) -> list[dict]:
    """The RTCPeerConnection `iceServers` of the web phone: WEB_PHONE_TURN_URLS with a credential
    for `user` (the extension, "101@<domain>") that expires at `expires` (unix seconds); none
    when no TURN server is configured."""
    urls = turn_urls()
    if not urls:
        return []
    username = f"{expires}:{user}"
    return [{"urls": urls, "username": username, "credential": turn_credential(username)}]


# --- coturn ---------------------------------------------------------------------------------


def turnserver_binary() -> str:
    path = shutil.which("turnserver") or "/usr/bin/turnserver"
    if not Path(path).exists():
        raise TurnError("coturn is not installed: run `make system-deps` (Debian package coturn).")
    return path


@dataclass
class TurnConfig:
    """One coturn run, as a configuration file of its own (never Debian's /etc/turnserver.conf):
    the secret goes in that file (mode 0600), not on a command line where `ps` shows it.

    `allow_loopback_peers` lets it relay to 127.0.0.1 (rtpengine of `make sip` and the tests);
    production must leave it off (docs/deployment.md, "TURN for the web phone")."""

    secret: str
    listen_ip: str = "127.0.0.1"
    port: int = 3478
    relay_ip: str = "127.0.0.1"
    min_port: int = 49160
    max_port: int = 49200
    realm: str = "turn.localhost"
    allow_loopback_peers: bool = True
    runtime_dir: Path = DEFAULT_RUNTIME_DIR
    extra_lines: list[str] = field(default_factory=list)

    @property
    def config_file(self) -> Path:
        return Path(self.runtime_dir) / "turnserver.conf"

    @property
    def pid_file(self) -> Path:
        return Path(self.runtime_dir) / "turnserver.pid"

    @property
    def log_file(self) -> Path:
        return Path(self.runtime_dir) / "turnserver.log"

    def urls(self) -> list[str]:
        """WEB_PHONE_TURN_URLS for this server: TURN over UDP and over TCP."""
        return [f"turn:{self.listen_ip}:{self.port}?transport={kind}" for kind in ("udp", "tcp")]

    def text(self) -> str:
        lines = [
            f"listening-ip={self.listen_ip}",
            f"listening-port={self.port}",
            f"relay-ip={self.relay_ip}",
            f"min-port={self.min_port}",
            f"max-port={self.max_port}",
            f"realm={self.realm}",
            "use-auth-secret",
            f"static-auth-secret={self.secret}",
            "fingerprint",
            # TURN over UDP and TCP only here (TLS: docs/deployment.md); no telnet console.
            "no-tls",
            "no-dtls",
            "no-cli",
            "no-multicast-peers",
            "no-software-attribute",
            f"pidfile={self.pid_file}",
            # Its own (unused) user database, not Debian's /var/lib/turn/turndb.
            f"userdb={Path(self.runtime_dir) / 'turndb'}",
            f"log-file={self.log_file}",
            "simple-log",
            # One line per allocation and per refused request (which username, which peer).
            "verbose",
        ]
        if self.allow_loopback_peers:
            lines.append("allow-loopback-peers")
        return "\n".join(lines + list(self.extra_lines)) + "\n"

    def command(self) -> list[str]:
        return [turnserver_binary(), "-c", str(self.config_file), "--no-stdout-log"]

    def prepare(self) -> None:
        Path(self.runtime_dir).mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(self.text())
        self.log_file.unlink(missing_ok=True)


class TurnServer:
    """A coturn process, stopped by its PID.

    >>> with TurnServer(TurnConfig(secret=..., port=free_port())) as turn:
    ...     turn.log()
    """

    def __init__(self, config: TurnConfig, *, new_session: bool = True) -> None:
        self.config = config
        self.new_session = new_session
        self.process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 10.0) -> TurnServer:
        self.config.prepare()
        self.process = subprocess.Popen(  # noqa: S603 — our own command line
            self.config.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=self.new_session,
        )
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, *, timeout: float) -> None:
        """Until coturn accepts TCP connections on its port (it opens UDP and TCP together)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise TurnError(f"turnserver exited with {self.process.returncode}:\n{self.log()[-2000:]}")
            try:
                with socket.create_connection((self.config.listen_ip, self.config.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        address = f"{self.config.listen_ip}:{self.config.port}"
        raise TurnError(f"turnserver did not listen on {address} in {timeout} s")

    def log(self) -> str:
        try:
            return self.config.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def __enter__(self) -> TurnServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
