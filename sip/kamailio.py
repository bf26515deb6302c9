"""Start and stop Kamailio with deploy/kamailio/kamailio.cfg: the one copy of that logic,
used by `make sip` (`manage.py run_kamailio`), the SIP tests and the REGISTER benchmark.

The committed configuration stays readable: everything that differs between runs (database
URL, address, ports, worker count) is passed as `-A NAME=value` defines.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from . import schema
from .ephemeral import ephemeral_secret
from .sipclient import TRANSPORTS, SipClient, SipError
from .tls import ensure_self_signed

BASE_DIR = Path(__file__).resolve().parent.parent
CONFIG_FILE = BASE_DIR / "deploy" / "kamailio" / "kamailio.cfg"
DEFAULT_RUNTIME_DIR = BASE_DIR / "var" / "kamailio"
# Kamailio's own Prometheus /metrics (KAMAILIO_METRICS), on the loopback; rtpengine's is 9101.
DEFAULT_METRICS_PORT = 9102
# The environment variable that carries the web phone's secret to Kamailio (kamailio.cfg).
EPHEMERAL_SECRET_ENV = "KAMAILIO_EPHEMERAL_SECRET"


class KamailioError(RuntimeError):
    pass


def kamailio_binary() -> str:
    path = shutil.which("kamailio") or "/usr/sbin/kamailio"
    if not Path(path).exists():
        raise KamailioError("Kamailio is not installed: run `make system-deps` (Debian packages).")
    return path


def db_url_for(
    settings_dict: Mapping[str, Any], *, user: str | None = None, password: str | None = None
) -> str:
    """Kamailio's db_url for a Django DATABASES entry (optionally as another role)."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        # sqlite:// + an absolute path: four slashes in all.
        return "sqlite:///" + str(Path(settings_dict["NAME"]).resolve())
    if "postgresql" in engine:
        if user is None:
            user = settings_dict.get("USER") or ""
            if password is None:
                password = settings_dict.get("PASSWORD") or ""
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}@{host}:{port}/{_pg_database(settings_dict)}"
    raise KamailioError(f"Kamailio cannot use the database engine {engine}.")


# libpq settings of DATABASE_URL that Kamailio must share with the dashboard: with several hosts
# (`HOST=a,b`, database failover), target_session_attrs=read-write keeps both on the primary.
_LIBPQ_OPTIONS = ("target_session_attrs", "connect_timeout")


def _pg_database(settings_dict: Mapping[str, Any]) -> str:
    """The database part of Kamailio's URL. db_postgres hands it to libpq as `dbname` with
    expand_dbname on, after host and port: a conninfo string there ("dbname=pbx
    target_session_attrs=read-write") sets libpq options the URL has no place for. Only when
    target_session_attrs is set (a failover set-up), so a plain URL stays plain."""
    name = settings_dict["NAME"]
    options = settings_dict.get("OPTIONS") or {}
    if "target_session_attrs" not in options:
        return name
    pairs = [("dbname", name), *((key, options[key]) for key in _LIBPQ_OPTIONS if key in options)]
    for key, value in pairs:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(value)):
            raise KamailioError(f"Kamailio cannot pass the database setting {key}={value!r}.")
    return " ".join(f"{key}={value}" for key, value in pairs)


def host_port(address: str, default_port: int) -> tuple[str, int]:
    """'127.0.0.1:5060' → ('127.0.0.1', 5060); a bare host gets the default port."""
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    return host, int(port) if port else default_port


@dataclass(frozen=True)
class Protection:
    """Brute-force lockout, flood and overload settings, in one place (settings.SIP_PROTECTION).

    Failed digest logins from one address within `auth_fail_window` seconds (counted from the
    first): at `auth_fail_limit` the address is blocked for `ip_block_seconds`. Wrong passwords
    for one extension, from anywhere, likewise: at `extension_fail_limit` it is locked for
    `extension_lock_seconds` (short, since the lock refuses its owner too). `pike_density`:
    requests per 2 s from one address beyond which they are dropped as a flood (0: off).
    `register_rate_limit`: REGISTERs per second in all beyond which they are answered 503 with
    `Retry-After: retry_after` (0: no limit)."""

    auth_fail_limit: int = 10
    auth_fail_window: int = 60
    ip_block_seconds: int = 900
    extension_fail_limit: int = 10
    extension_lock_seconds: int = 120
    pike_density: int = 60
    register_rate_limit: int = 1000
    retry_after: int = 5

    @classmethod
    def from_settings(cls) -> Protection:
        from django.conf import settings

        values = getattr(settings, "SIP_PROTECTION", {})
        return cls(**{name.lower(): int(value) for name, value in values.items()})

    def defines(self) -> dict[str, str | None]:
        return {
            "AUTH_FAIL_LIMIT": str(self.auth_fail_limit),
            "EXTENSION_FAIL_LIMIT": str(self.extension_fail_limit),
            "IP_BLOCK_SECONDS": str(self.ip_block_seconds),
            "EXTENSION_LOCK_SECONDS": str(self.extension_lock_seconds),
            "HT_AUTHFAIL": _cfg_string(
                f"authfail=>size=10;autoexpire={self.auth_fail_window};updateexpire=0;"
            ),
            "HT_IPBAN": _cfg_string(f"ipban=>size=8;autoexpire={self.ip_block_seconds};updateexpire=0;"),
            "HT_EXTLOCK": _cfg_string(
                f"extlock=>size=8;autoexpire={self.extension_lock_seconds};updateexpire=0;"
            ),
            "PIKE_DENSITY": str(self.pike_density),
            "REGISTER_RATE_LIMIT": str(self.register_rate_limit),
            "RETRY_AFTER": str(self.retry_after),
        }


# The call counters' htable (route[OUTBOUND_CONTROLS]), as kamailio.cfg defines it by default.
HT_CALLS = "calls=>size=10;autoexpire=172800;"


# Tests and benchmarks that send many failures or floods from one address on purpose (and
# must not lock the loopback out of the other tests): counting stays on, nothing trips.
RELAXED_PROTECTION = Protection(
    auth_fail_limit=100000, extension_fail_limit=100000, pike_density=0, register_rate_limit=0
)


@dataclass(frozen=True)
class ClusterMembership:
    """One node's place in a cluster (kamailio.cfg, WITH_CLUSTER; sip.cluster starts them).

    `node_id` (1, 2, …) is Kamailio's server_id, written with each registration the node takes.
    The nodes talk DMQ on `dmq_port` of their SIP address; a starting node announces itself to
    `seed` ("host:port" of a running node's DMQ, or a DNS name resolving to all of them; its own
    for the first node). `network`: the nodes' addresses (CIDRs), the only ones allowed to speak
    DMQ or send calls along a Path without authenticating."""

    node_id: int
    dmq_port: int
    seed: str
    network: tuple[str, ...]

    # The htables shared between the nodes (counters of route[OUTBOUND_CONTROLS], the locks and
    # failure counters of route[AUTH_GUARD]); not `callerid` (a rotation, fine per node) nor
    # `regconn` (connections exist at one node only).
    REPLICATED_HTABLES = ("HT_CALLS", "HT_AUTHFAIL", "HT_IPBAN", "HT_EXTLOCK")

    def defines(self, config: KamailioConfig, htables: dict[str, str | None]) -> dict[str, str | None]:
        ip = config.listen_ip
        if self.dmq_port in config.tcp_ports or self.dmq_port == config.sip_port:
            raise KamailioError(f"The DMQ port {self.dmq_port} is taken by SIP or WebSocket.")
        defines: dict[str, str | None] = {
            "WITH_CLUSTER": None,
            "CLUSTER_NODE_ID": str(self.node_id),
            "DMQ_PORT": str(self.dmq_port),
            "DMQ_SERVER": _cfg_string(f"sip:{ip}:{self.dmq_port}"),
            "DMQ_NOTIFY": _cfg_string(f"sip:{self.seed}"),
            "CLUSTER_NETWORK": _cfg_string(",".join(self.network)),
            "CLUSTER_PATH": _cfg_string(f"sip:{ip}:{config.sip_port};lr"),
        }
        for name in self.REPLICATED_HTABLES:
            definition = (htables.get(name) or "").strip('"')
            defines[name] = _cfg_string(definition.rstrip(";") + ";dmqreplicate=1;")
        return defines


@dataclass
class KamailioConfig:
    """What one Kamailio run needs; turned into the command line by `command()`."""

    db_url: str
    listen_ip: str = "127.0.0.1"
    sip_port: int = 5060
    ws_port: int = 8088
    ws_path: str = "/ws"
    auth_table: str = schema.SUBSCRIBER_VIEW
    children: int = 4
    domain_reload_seconds: int = 10
    # Where external calls and *33 (listen) calls go (SIP URIs); empty: answered 503. The listen
    # service is ours (sip.listen), started next to Kamailio by `make sip` and the tests.
    gateway_uri: str = ""
    listen_uri: str = ""
    # The caller ID as the carrier wants it: "national" (0912…) or "e164" (+84912…).
    caller_id_format: str = "national"
    # Carrier gateways (sip.models.Gateway, dispatcher): seconds between OPTIONS probes, failed
    # probes before a gateway is skipped and answered ones before it is used again, milliseconds
    # a gateway may take to send its first reply before the call moves on, and the seconds
    # between two `dispatcher.reload`s (0: none, for tests).
    gateway_probe_interval: int = 5
    gateway_probe_threshold: int = 2
    gateway_revive_threshold: int = 2
    gateway_reply_timeout_ms: int = 3000
    # Milliseconds a probe (or a BYE, a CANCEL, an INVITE until its first reply) waits for a reply
    # before it counts as failed.
    noninvite_timeout_ms: int = 5000
    dispatcher_reload_delta: int = 1
    # Seconds Kamailio waits between two dial-rule reloads (0: none, for tests only).
    dialplan_reload_delta: int = 5
    # The media relay's ng control socket (sip.rtpengine.RtpengineConfig.kamailio_socket).
    rtpengine_sock: str = "udp:127.0.0.1:2223"
    # Seconds an answered call may last; milliseconds an INVITE may ring unanswered.
    dialog_timeout: int = 43200
    invite_timeout_ms: int = 120000
    runtime_dir: Path = DEFAULT_RUNTIME_DIR
    shm_mb: int = 64
    pkg_mb: int = 8
    # SIP over TLS on sips_port and WebSocket over TLS on wss_port (same path as ws), with this
    # certificate and key (PEM); without them, a self-signed one for 127.0.0.1/localhost made
    # under runtime_dir/tls on the first start (sip.tls).
    tls: bool = False
    sips_port: int = 5061
    wss_port: int = 8443
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # wss:// is terminated by a proxy in front (nginx) that forwards ws:// to ws_port.
    wss_proxied: bool = False
    # Seconds between the OPTIONS keep-alives sent to UDP phones registered from behind a NAT.
    natping_interval: int = 30
    # The secret shared with the dashboard for the web phone's short-lived credentials
    # (sip.ephemeral), given to Kamailio in its environment (KAMAILIO_EPHEMERAL_SECRET, which only
    # its own user can read), never on the command line. Empty: the web phone cannot sign in
    # (softphones still can).
    ephemeral_secret: str = field(default="", repr=False)
    # host:port of Kamailio's own Prometheus /metrics (xhttp_prom, the METRICS section of the
    # cfg), a listener of its own on the loopback (KAMAILIO_METRICS); empty: none.
    metrics_listen: str = ""
    # Protection (route[AUTH_GUARD], route[FLOOD], route[OVERLOAD]); settings.SIP_PROTECTION.
    protection: Protection = field(default_factory=lambda: Protection())
    # One node of several (sip.cluster); None: the only one.
    cluster: ClusterMembership | None = None
    # Another control socket, for a dashboard on another machine (e.g. "tcp:10.0.0.11:2049").
    ctl_listen: str = ""
    defines: dict[str, str | None] = field(default_factory=dict)

    @property
    def uses_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite:")

    @property
    def ctl_socket(self) -> Path:
        return Path(self.runtime_dir) / "kamailio_ctl"

    @property
    def pid_file(self) -> Path:
        return Path(self.runtime_dir) / "kamailio.pid"

    @property
    def tls_config(self) -> Path:
        """The tls module's file, written by prepare() (certificate, key, TLS versions)."""
        return Path(self.runtime_dir) / "tls.cfg"

    @property
    def tcp_ports(self) -> list[int]:
        """The ports Kamailio accepts connections on: SIP and WebSocket, and with TLS both again."""
        ports = [self.sip_port, self.ws_port]
        return ports + [self.sips_port, self.wss_port] if self.tls else ports

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) of the metrics listener, or None; only a loopback address is accepted:
        the statistics are for Prometheus on this host, never for the public."""
        if not self.metrics_listen:
            return None
        host, port = host_port(self.metrics_listen, DEFAULT_METRICS_PORT)
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback or ":" in host:
            raise KamailioError(
                f"KAMAILIO_METRICS is {self.metrics_listen!r}: Kamailio's metrics listen on an IPv4 "
                "loopback address only (e.g. 127.0.0.1:9102); scrape them on this host."
            )
        return host, port

    def served(self) -> dict[str, str]:
        """What this configuration serves, by transport: host:port for SIP, the URL for
        WebSocket. The login info may show only these (`login_info_problems`)."""
        ip = self.listen_ip
        served = {
            "udp": f"{ip}:{self.sip_port}",
            "tcp": f"{ip}:{self.sip_port}",
            "ws": f"ws://{ip}:{self.ws_port}{self.ws_path}",
        }
        if self.tls:
            served["tls"] = f"{ip}:{self.sips_port}"
            served["wss"] = f"wss://{ip}:{self.wss_port}{self.ws_path}"
        return served

    def login_info_problems(self, *, proxy: str, transports: list[str], websocket_url: str) -> list[str]:
        """Where the login info (SIP_OUTBOUND_PROXY, SIP_TRANSPORTS, SIP_WEBSOCKET_URL) promises
        something this configuration does not serve; empty when it tells the truth. Hosts are
        not compared: the login info names the public address, Kamailio may bind another."""
        served = self.served()
        problems = []
        for transport in transports:
            if transport not in TRANSPORTS:
                problems.append(
                    f"SIP_TRANSPORTS lists {transport!r}: Kamailio serves only {', '.join(TRANSPORTS)}."
                )
            elif transport not in served and not (transport == "wss" and self.wss_proxied):
                problems.append(
                    f"SIP_TRANSPORTS lists {transport!r}, which is served only with SIP_TLS=1 "
                    "(SIP over TLS, WebSocket over TLS)."
                )
        ports = self.tcp_ports
        for port in sorted({port for port in ports if ports.count(port) > 1}):
            problems.append(
                f"Two listeners on port {port} (SIP {self.sip_port}, ws {self.ws_port}"
                + (f", SIP over TLS {self.sips_port}, wss {self.wss_port})." if self.tls else ").")
            )
        metrics = self.metrics_address
        if metrics is not None and metrics[1] in ports:
            problems.append(f"KAMAILIO_METRICS uses port {metrics[1]}, which SIP or WebSocket listens on.")
        _, proxy_port = host_port(proxy, 5060)
        if proxy_port != self.sip_port:
            problems.append(f"SIP_OUTBOUND_PROXY is {proxy} but SIP is served on port {self.sip_port}.")
        url = urlsplit(websocket_url)
        if url.scheme not in ("ws", "wss"):
            problems.append(f"SIP_WEBSOCKET_URL must start with ws:// or wss://, not {websocket_url!r}.")
        elif url.scheme not in served and not self.wss_proxied:
            problems.append(
                f"SIP_WEBSOCKET_URL is {websocket_url} but WebSocket over TLS is not served: set "
                "SIP_TLS=1, or KAMAILIO_WS_PORT when a proxy in front terminates wss:// and forwards "
                "ws:// to Kamailio."
            )
        elif not self.wss_proxied:
            expected = urlsplit(served[url.scheme])
            port = url.port or (443 if url.scheme == "wss" else 80)
            if (port, url.path or "/") != (expected.port, expected.path):
                problems.append(
                    f"SIP_WEBSOCKET_URL is {websocket_url} but Kamailio serves {served[url.scheme]}."
                )
        return problems

    def all_defines(self) -> dict[str, str | None]:
        defines: dict[str, str | None] = {
            "DBURL": _cfg_string(self.db_url),
            "LISTEN_IP": self.listen_ip,
            "SIP_PORT": str(self.sip_port),
            "WS_PORT": str(self.ws_port),
            "WS_PATH": _cfg_string(self.ws_path),
            "AUTH_TABLE": _cfg_string(self.auth_table),
            "CTL_SOCKET": _cfg_string(f"unix:{self.ctl_socket}"),
            "CHILDREN": str(self.children),
            "DOMAIN_RELOAD_TIMER": _cfg_string(f"name=domains;interval={self.domain_reload_seconds};mode=1;"),
            "SQLOPS_CON": _cfg_string(f"kam=>{self.db_url}"),
            "GATEWAY_URI": _cfg_string(self.gateway_uri),
            "LISTEN_URI": _cfg_string(self.listen_uri),
            "CALLER_ID_FORMAT": _cfg_string(self.caller_id_format),
            "DS_PING_INTERVAL": str(self.gateway_probe_interval),
            "DS_PROBING_THRESHOLD": str(self.gateway_probe_threshold),
            "DS_INACTIVE_THRESHOLD": str(self.gateway_revive_threshold),
            "GATEWAY_REPLY_TIMEOUT_MS": str(self.gateway_reply_timeout_ms),
            "DISPATCHER_RELOAD_DELTA": str(self.dispatcher_reload_delta),
            "NONINVITE_TIMEOUT_MS": str(self.noninvite_timeout_ms),
            "DIALPLAN_RELOAD_DELTA": str(self.dialplan_reload_delta),
            "NATPING_INTERVAL": str(self.natping_interval),
            "RTPENGINE_SOCK": _cfg_string(self.rtpengine_sock),
            "DIALOG_TIMEOUT": str(self.dialog_timeout),
            "INVITE_TIMEOUT_MS": str(self.invite_timeout_ms),
        }
        defines.update(self.protection.defines())
        if self.ctl_listen:
            defines["CTL_LISTEN"] = _cfg_string(self.ctl_listen)
        if self.cluster is not None:
            defines["HT_CALLS"] = _cfg_string(HT_CALLS)
            defines.update(self.cluster.defines(self, defines))
        metrics = self.metrics_address
        if metrics is not None:
            defines.update(WITH_METRICS=None, METRICS_IP=metrics[0], METRICS_PORT=str(metrics[1]))
        if self.uses_sqlite:
            defines["WITH_SQLITE"] = None
        if self.tls:
            defines.update(
                WITH_TLS=None,
                TLS_CONFIG=_cfg_string(str(self.tls_config)),
                SIPS_PORT=str(self.sips_port),
                WSS_PORT=str(self.wss_port),
            )
        defines.update(self.defines)
        return defines

    def command(self, *, foreground: bool = True) -> list[str]:
        cmd = [
            kamailio_binary(),
            "-f",
            str(CONFIG_FILE),
            "-m",
            str(self.shm_mb),
            "-M",
            str(self.pkg_mb),
            "-Y",
            str(self.runtime_dir),
            "-P",
            str(self.pid_file),
            "-w",
            str(self.runtime_dir),
        ]
        if foreground:
            # -DD: stay in the foreground (children are still forked); -E: log to stderr.
            cmd += ["-DD", "-E"]
        for name, value in self.all_defines().items():
            cmd += ["-A", name if value is None else f"{name}={value}"]
        return cmd

    def environment(self) -> dict[str, str]:
        # Kamailio writes location timestamps in local time; UTC makes them what Django reads.
        env = {**os.environ, "TZ": "UTC"}
        env.pop(EPHEMERAL_SECRET_ENV, None)
        if self.ephemeral_secret:
            # The cfg reads it with #!trydefenvs into auth_ephemeral's `secret`; a quote or a
            # backslash would end Kamailio's string early.
            if any(c in self.ephemeral_secret for c in '"\\\n'):
                raise KamailioError("The web phone's secret cannot hold quotes, backslashes or newlines.")
            env[EPHEMERAL_SECRET_ENV] = self.ephemeral_secret
        else:
            # auth_ephemeral will not start without a secret: one nobody knows, so no web phone
            # credential is valid (softphones are not affected).
            env[EPHEMERAL_SECRET_ENV] = secrets.token_urlsafe(32)
        return env

    def prepare(self) -> None:
        Path(self.runtime_dir).mkdir(parents=True, exist_ok=True)
        self.ctl_socket.unlink(missing_ok=True)
        if self.tls:
            self.write_tls_config()

    def write_tls_config(self) -> None:
        """The tls module's file: the certificate (made self-signed when none is named) for
        every TLS connection, TLS 1.2 or newer, client certificates not asked for."""
        if self.tls_cert_file is not None and self.tls_key_file is not None:
            cert, key = Path(self.tls_cert_file), Path(self.tls_key_file)
        elif self.tls_cert_file is None and self.tls_key_file is None:
            cert, key = ensure_self_signed(Path(self.runtime_dir) / "tls")
            self.tls_cert_file, self.tls_key_file = cert, key
        else:
            raise KamailioError(
                "Name both the TLS certificate and its key (SIP_TLS_CERT_FILE, SIP_TLS_KEY_FILE)."
            )
        for path in (cert, key):
            if not path.is_file():
                raise KamailioError(f"TLS: no such file {path}.")
            if any(c in str(path) for c in "\n[]#"):
                raise KamailioError(f"TLS: Kamailio cannot read the path {path!r}; use a plain one.")
        profile = (
            "method = TLSv1.2+\n"
            "verify_certificate = no\n"
            "require_certificate = no\n"
            f"certificate = {cert.resolve()}\n"
            f"private_key = {key.resolve()}\n"
        )
        # server: phones and browsers connecting in; client: Kamailio connecting out to a
        # phone registered over TLS whose connection has to be opened again.
        self.tls_config.write_text(
            "# Written by sip/kamailio.py at every start; edit the settings, not this file.\n"
            f"[server:default]\n{profile}\n[client:default]\n{profile}"
        )


def _cfg_string(value: str) -> str:
    if '"' in value or "\n" in value:
        raise KamailioError(f"Cannot pass {value!r} to Kamailio's configuration.")
    return f'"{value}"'


def config_from_settings(**overrides) -> KamailioConfig:
    """The configuration `make sip` uses: where the login info points (SIP_OUTBOUND_PROXY,
    SIP_WEBSOCKET_URL), TLS when SIP_TLS is on, and the dashboard's own database, unless
    KAMAILIO_DB_URL names another role's URL (production: the restricted `kamailio` role).

    Kamailio's own Prometheus /metrics on KAMAILIO_METRICS (127.0.0.1:9102; empty: none).
    Ports the login info does not name: SIP over TLS on KAMAILIO_TLS_PORT (5061), and the other
    WebSocket port than SIP_WEBSOCKET_URL's: ws:// on KAMAILIO_WS_PORT (8088) when the URL is
    wss://, wss:// on KAMAILIO_WSS_PORT (8443) when it is ws://. With a wss:// URL and SIP_TLS
    off, KAMAILIO_WS_PORT says that a proxy in front terminates wss:// and forwards ws:// there.

    One node of a cluster on its own machine (docs/deployment.md): KAMAILIO_NODE_ID (1, 2, …),
    KAMAILIO_DMQ_SEED (host:port of a running node's DMQ, or a name resolving to all of them),
    KAMAILIO_CLUSTER_NETWORK (the nodes' addresses, CIDRs) and SIP_CLUSTER_DMQ_PORT (5070);
    KAMAILIO_CTL_LISTEN, a control socket the dashboard reaches from its own machine.
    """
    from django.conf import settings
    from django.db import connections

    proxy_host, sip_port = host_port(settings.SIP_OUTBOUND_PROXY, 5060)
    ws = urlsplit(settings.SIP_WEBSOCKET_URL)
    url_port = ws.port or (443 if ws.scheme == "wss" else 80)
    ws_port_env = os.environ.get("KAMAILIO_WS_PORT")
    if ws.scheme == "wss":
        ws_port, wss_port = int(ws_port_env or 8088), url_port
    else:
        ws_port, wss_port = url_port, int(os.environ.get("KAMAILIO_WSS_PORT") or 8443)
    tls = bool(getattr(settings, "SIP_TLS", False))
    cert, key = getattr(settings, "SIP_TLS_CERT_FILE", ""), getattr(settings, "SIP_TLS_KEY_FILE", "")
    db_url = os.environ.get("KAMAILIO_DB_URL") or db_url_for(connections["default"].settings_dict)
    values: dict[str, Any] = {
        "db_url": db_url,
        "listen_ip": os.environ.get("KAMAILIO_LISTEN_IP", proxy_host),
        "sip_port": sip_port,
        "ws_port": ws_port,
        "ws_path": ws.path or "/",
        "children": int(os.environ.get("KAMAILIO_CHILDREN", "4")),
        "runtime_dir": Path(os.environ.get("KAMAILIO_RUNTIME_DIR", DEFAULT_RUNTIME_DIR)),
        "gateway_uri": settings.SIP_GATEWAY_URI,
        "caller_id_format": settings.SIP_GATEWAY_CALLER_ID_FORMAT,
        "tls": tls,
        "sips_port": int(os.environ.get("KAMAILIO_TLS_PORT") or 5061),
        "wss_port": wss_port,
        "tls_cert_file": Path(cert) if cert else None,
        "tls_key_file": Path(key) if key else None,
        "wss_proxied": ws.scheme == "wss" and not tls and bool(ws_port_env),
        "ephemeral_secret": ephemeral_secret(),
        # Carrier gateway probing (docs/deployment.md, "Carrier gateways").
        "gateway_probe_interval": int(os.environ.get("KAMAILIO_GATEWAY_PROBE_INTERVAL") or 5),
        "gateway_probe_threshold": int(os.environ.get("KAMAILIO_GATEWAY_PROBE_THRESHOLD") or 2),
        "gateway_reply_timeout_ms": int(os.environ.get("KAMAILIO_GATEWAY_REPLY_TIMEOUT_MS") or 3000),
        "protection": Protection.from_settings(),
        "metrics_listen": os.environ.get("KAMAILIO_METRICS", f"127.0.0.1:{DEFAULT_METRICS_PORT}"),
    }
    values["ctl_listen"] = os.environ.get("KAMAILIO_CTL_LISTEN", "")
    if node_id := os.environ.get("KAMAILIO_NODE_ID"):
        listen_ip = values["listen_ip"]
        dmq_port = int(os.environ.get("SIP_CLUSTER_DMQ_PORT") or 5070)
        networks = os.environ.get("KAMAILIO_CLUSTER_NETWORK") or f"{listen_ip}/32"
        values["cluster"] = ClusterMembership(
            node_id=int(node_id),
            dmq_port=dmq_port,
            seed=os.environ.get("KAMAILIO_DMQ_SEED") or f"{listen_ip}:{dmq_port}",
            network=tuple(n.strip() for n in networks.split(",") if n.strip()),
        )
    values.update(overrides)
    return KamailioConfig(**values)


def login_info_problems(config: KamailioConfig) -> list[str]:
    """config.login_info_problems for the login info the settings make (extensions.credentials)."""
    from django.conf import settings

    return config.login_info_problems(
        proxy=settings.SIP_OUTBOUND_PROXY,
        transports=list(settings.SIP_TRANSPORTS),
        websocket_url=settings.SIP_WEBSOCKET_URL,
    )


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for ports it picks itself (outgoing connections, bind to port 0)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port free right now on host for the given socket kind, for a server started next.

    Taken above the kernel's ephemeral range when there is room (61000–64999 by default): a
    port the kernel handed out itself could be given to an outgoing connection (a database
    client, a browser) before the server binds it ("Address already in use"). rtpengine's media
    ranges are below that range (sip.rtpengine.free_port_range)."""
    low = _ephemeral_ports()[1] + 1
    if low < 64000:
        for _ in range(100):
            # Below 65000: some servers take the next ports too (baresip's TLS listener).
            port = random.randrange(low, 65000)  # noqa: S311 — spreading, not security
            with socket.socket(socket.AF_INET, kind) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_sip_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP (SIP listens on both)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM, host)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        return port
    raise KamailioError("No port free for both UDP and TCP.")


class Kamailio:
    """A Kamailio process started in its own process group, so stopping it stops its children.

    >>> with Kamailio(config, log_path=tmp / "kamailio.log") as kamailio:
    ...     kamailio.reload_domains()
    """

    def __init__(self, config: KamailioConfig, *, log_path: Path | None = None) -> None:
        self.config = config
        self.log_path = Path(log_path or Path(config.runtime_dir) / "kamailio.log")
        self.process: subprocess.Popen | None = None

    def check_config(self) -> None:
        """`kamailio -c`: parse the configuration with these defines, without starting."""
        cmd = [*self.config.command(foreground=False), "-c"]
        result = subprocess.run(  # noqa: S603 — our own command line
            cmd, capture_output=True, text=True, env=self.config.environment(), check=False
        )
        if result.returncode != 0:
            raise KamailioError(f"Invalid Kamailio configuration:\n{result.stderr[-4000:]}")

    def start(
        self, *, timeout: float = 20.0, command: list[str] | None = None, env: dict[str, str] | None = None
    ) -> Kamailio:
        """Start Kamailio and wait until it answers. `command` starts something else that
        becomes Kamailio with this configuration (the tests run `manage.py run_kamailio`)."""
        self.config.prepare()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 — our own command line
                command or self.config.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env or self.config.environment(),
                start_new_session=True,
            )
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, *, timeout: float) -> None:
        """Until Kamailio answers OPTIONS over UDP and accepts TCP on the SIP and WS ports (and
        the metrics one)."""
        deadline = time.monotonic() + timeout
        ip = self.config.listen_ip
        while True:
            if self.process.poll() is not None:
                raise KamailioError(f"Kamailio exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                with SipClient(ip, self.config.sip_port, timeout=0.5) as client:
                    if client.options().status == 200:
                        for port in self.config.tcp_ports:
                            socket.create_connection((ip, port), timeout=0.5).close()
                        if self.config.metrics_address is not None:
                            socket.create_connection(self.config.metrics_address, timeout=0.5).close()
                        return
            except (OSError, SipError):
                pass
            if time.monotonic() > deadline:
                raise KamailioError(f"Kamailio was not ready within {timeout}s:\n{self.log()[-4000:]}")
            time.sleep(0.1)

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM to the whole process group, then SIGKILL if it lingers."""
        if self.process is None:
            return
        pgid = self.process.pid  # the leader of its own session, so its group id is its pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        # Children may outlive the main process for a moment; make sure none is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        if self.process.returncode is None:
            self.process.wait(timeout=timeout)
        self.process = None

    def __enter__(self) -> Kamailio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def rpc(self, *args: str) -> str:
        """Run a kamcmd command over the control socket, e.g. rpc("domain.reload")."""
        return rpc(self.config, *args)

    def reload_domains(self) -> None:
        """Pick up hotlines created, enabled or disabled since the start."""
        self.rpc("domain.reload")

    def reload_dialplan(self) -> None:
        """Pick up dial rules created, changed or deleted since the start."""
        self.rpc("dialplan.reload")

    def reload_gateways(self) -> None:
        """Pick up carrier gateways created, changed or deleted since the start."""
        self.rpc("dispatcher.reload")


def control_address(target: KamailioConfig | str) -> str:
    """kamcmd's -s for a configuration (its unix socket) or an address as given
    ("unix:/path", "tcp:host:port", "udp:host:port")."""
    return target if isinstance(target, str) else f"unix:{target.ctl_socket}"


def control_addresses(config: KamailioConfig | None = None) -> list[str]:
    """Where the dashboard reaches Kamailio: `config`'s control socket when one is given; else
    every node of a cluster (settings.SIP_CLUSTER_CTL_SOCKETS); else the one `make sip` runs."""
    if config is not None:
        return [control_address(config)]
    from django.conf import settings

    nodes = list(getattr(settings, "SIP_CLUSTER_CTL_SOCKETS", []) or [])
    return nodes or [control_address(config_from_settings())]


def control_reachable(address: str) -> bool:
    """False for a unix socket that does not exist (that Kamailio is not running here)."""
    return not address.startswith("unix:") or Path(address.removeprefix("unix:")).exists()


@dataclass(frozen=True)
class NodeAnswer:
    """One node's answer to an RPC: its output, or why there is none."""

    address: str
    output: str | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.output is not None


def rpc_each(*args: str, config: KamailioConfig | None = None, timeout: float = 10.0) -> list[NodeAnswer]:
    """The same kamcmd command on every node (control_addresses), all at once, so a node that
    hangs delays the answer by `timeout` at most, not the others' too; answers in the nodes'
    order. A node that is not running or fails is reported, never raised."""

    def ask(address: str) -> NodeAnswer:
        if not control_reachable(address):
            socket_path = address.removeprefix("unix:")
            return NodeAnswer(address, error=f"No Kamailio control socket at {socket_path}")
        try:
            return NodeAnswer(address, output=rpc(address, *args, timeout=timeout))
        except (KamailioError, OSError, subprocess.TimeoutExpired) as exc:
            return NodeAnswer(address, error=str(exc))

    addresses = control_addresses(config)
    if len(addresses) == 1:
        return [ask(addresses[0])]
    with ThreadPoolExecutor(len(addresses)) as pool:
        return list(pool.map(ask, addresses))


def rpc(target: KamailioConfig | str, *args: str, timeout: float = 10.0) -> str:
    """One kamcmd command on one Kamailio (a configuration, or a control address)."""
    result = subprocess.run(  # noqa: S603 — our own command line
        [shutil.which("kamcmd") or "/usr/sbin/kamcmd", "-s", control_address(target), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0 or result.stdout.startswith("error"):
        raise KamailioError(f"kamcmd {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout
