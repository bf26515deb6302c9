#!/usr/bin/env python
"""Calls through the media relay: concurrent calls with RTP through Kamailio and rtpengine, at
rising counts, until packets are lost.

    make bench-calls          # or: .venv/bin/python bench/calls_bench.py --help

What it does, all on the loopback and bounded in count and time:
1. creates a scratch PostgreSQL database, migrates it (the dial rules come with the
   migrations) and creates a hotline with a calling extension (100) and called ones (200, 201,
   …) through the real services;
2. starts rtpengine (userspace forwarding) and Kamailio from deploy/kamailio/kamailio.cfg with
   the project's own starters (sip/rtpengine.py, sip/kamailio.py) on free ports;
3. registers each called extension with Kamailio from the port where a SIPp then answers as
   that extension (bench/sipp_echo_uas.xml): G.711 u-law, every RTP packet echoed back
   (`-rtp_echo`); one SIPp per CALLS_PER_ECHO calls of the largest count;
4. for each count of concurrent calls (10, 25, 50, 100, …), ROUNDS times: the calling
   extension places that many calls (INVITE with an SDP offer, digest authentication), each
   with a UDP port of its own in this process, to the called extensions in turn; checks that
   every call is anchored (rtpengine holds a session for its Call-ID, the answer names the
   relay's address and a port of its range); sends 20 ms PCMU packets on every call for
   SECONDS (the calls spread over the 20 ms) and counts, by sequence number, the packets that
   come back through relay → SIPp → relay, and those that come back late; reads where packets
   went missing (rtpengine's per-call counters, the kernel's drop counters per socket); hangs
   every call up with BYE and checks that the relay freed its sessions;
5. meanwhile reads the CPU time of rtpengine, of all Kamailio processes, of the SIPps and of
   itself from /proc/<pid>/stat, and the machine's from /proc/stat;
6. prints a line per round, a table of medians per count, and the counts at which the relay's
   share of the loss, lost-or-late packets and the round-trip loss passed 0.1 % (or "not
   reached up to N"); stops all it started by PID, removes its temporary directory and drops
   the database (--keep keeps it).
Results and the machine they came from: docs/performance.md, "Calls through the media relay".
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from sip.kamailio import Kamailio, KamailioConfig, db_url_for, free_port, free_sip_port  # noqa: E402
from sip.processes import stop_process  # noqa: E402
from sip.rtpengine import Rtpengine, RtpengineConfig, free_port_range  # noqa: E402
from sip.sipclient import Call, SipClient, SipError  # noqa: E402

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/pbx_bench_calls"
DEFAULT_COUNTS = "10,25,50,100,200,300,400,600,800,1000"
SCENARIO = Path(__file__).resolve().parent / "sipp_echo_uas.xml"
LOSS_LIMIT = 0.001  # 0.1 %
# Past this round-trip loss the stand-ins are swamped and larger counts would measure nothing.
GIVE_UP_LOSS = 0.05
# A packet back later than this (seconds) has missed any phone's jitter buffer: ITU-T G.114's
# one-way mouth-to-ear budget, spent here on a round trip on the loopback.
LATE = 0.150
# Below this share of the nominal 50 packets/s a call, the bench itself is the bottleneck.
MIN_OFFERED = 0.95

PTIME = 0.02  # seconds of audio per packet
SAMPLES = 160  # G.711 at 8 kHz: 160 one-byte samples per 20 ms
RTP_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
# The first bytes of the payload: which call and which packet, so a packet that comes back
# renumbered, twice, or on another call's port is noticed. The rest is u-law silence.
TAG = struct.Struct("!II")
SILENCE = b"\xff" * (SAMPLES - TAG.size)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU from /proc --------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After "pid (comm)": state is fields[0], so utime and stime (stat fields 14, 15) are 11, 12.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def group_cpu(pgid: int) -> float:
    """CPU seconds of every process in a process group (Kamailio and all its children)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs together, from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def udp_sockets() -> dict[int, tuple[int, int]]:
    """By local port of the UDP sockets on 127.0.0.1 (/proc/net/udp): the packets the kernel
    dropped because the receive buffer was full (`drops`), and the bytes waiting in it now
    (`rx_queue`, with the kernel's overhead per packet)."""
    sockets: dict[int, tuple[int, int]] = {}
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        address, _, port = fields[1].partition(":")
        if address == "0100007F":
            drops, queued = sockets.get(int(port, 16), (0, 0))
            rx_queue = int(fields[4].partition(":")[2], 16)
            sockets[int(port, 16)] = (drops + int(fields[-1]), queued + rx_queue)
    return sockets


def backlog_drops() -> int:
    """Packets dropped before any socket saw them: the per-CPU input queue was full (the second
    column of /proc/net/softnet_stat; loopback traffic passes through it). Machine-wide."""
    return sum(int(line.split()[1], 16) for line in Path("/proc/net/softnet_stat").read_text().splitlines())


def udp_errors() -> dict[str, int]:
    """The machine's UDP error counters (/proc/net/snmp): receive and send buffers full, out of
    memory, and datagrams to a port nobody listens on. Machine-wide: other work counts too."""
    lines = [
        line.split()[1:]
        for line in Path("/proc/net/snmp").read_text().splitlines()
        if line.startswith("Udp:")
    ]
    counters = dict(zip(lines[0], map(int, lines[1]), strict=True))
    return {name: counters.get(name, 0) for name in ("RcvbufErrors", "SndbufErrors", "MemErrors", "NoPorts")}


@dataclass
class CpuSnapshot:
    at: float
    rtpengine: float
    kamailio: float
    sipp: float
    client: float
    machine: tuple[float, float]

    @classmethod
    def take(cls, *, rtpengine_pid: int, kamailio_pgid: int, sipp_pids: list[int]) -> CpuSnapshot:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            at=time.monotonic(),
            rtpengine=process_cpu(rtpengine_pid),
            kamailio=group_cpu(kamailio_pgid),
            sipp=sum(process_cpu(pid) for pid in sipp_pids),
            client=usage.ru_utime + usage.ru_stime,
            machine=machine_cpu(),
        )

    def busy_since(self, earlier: CpuSnapshot) -> float:
        """The share of all CPUs busy between the two snapshots (0–1)."""
        busy = self.machine[0] - earlier.machine[0]
        total = self.machine[1] - earlier.machine[1]
        return busy / total if total else 0.0


def relay_port_range(size: int) -> tuple[int, int]:
    """Ports for the relay: four a call (RTP and RTCP on each of the two legs) and some to spare,
    above the kernel's range of ephemeral ports where nothing picks a port by itself. Not in
    free_port_range's usual region, where the test suites of other sessions on this machine run
    their rtpengines: rtpengine binds its media ports with SO_REUSEADDR, so two of them can hold
    the same port, and the kernel hands each packet to one of them (packets lost, or another
    call's packets arriving: the `strays` of a flagged round)."""
    top = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[1])
    if 65536 - (top + 1) > size:
        return free_port_range(size, low=top + 1, high=65536)
    return free_port_range(size)


# --- the called extension: SIPp answering with an RTP echo -------------------------------------


def sipp_binary() -> str:
    path = shutil.which("sipp") or "/usr/bin/sipp"
    if not Path(path).exists():
        raise RuntimeError("SIPp is not installed: run `make system-deps` (Debian package sip-tester).")
    return path


def _free_echo_ports() -> tuple[int, int]:
    """A SIP port (UDP) and a media port whose port + 2 is free too (SIPp echoes video there)."""
    for _ in range(50):
        sip_port, media_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", media_port + 2))
            except OSError:
                continue
        if sip_port not in (media_port, media_port + 2):
            return sip_port, media_port
    raise RuntimeError("No free ports for SIPp.")


class SippEcho:
    """SIPp as one extension: registered with Kamailio from its own SIP port (so Kamailio sends
    the calls there), answering each with PCMU and echoing every RTP packet. Stopped by PID.

    >>> with SippEcho(directory, proxy=("127.0.0.1", 5060), username="200", domain=…, password=…):
    ...
    """

    def __init__(
        self,
        directory: Path,
        *,
        proxy: tuple[str, int],
        username: str,
        domain: str,
        password: str,
        echo: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.proxy = proxy
        self.username = username
        self.domain = domain
        self.password = password
        self.echo = echo
        self.sip_port, self.media_port = _free_echo_ports()
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "sipp.log"

    def register(self) -> None:
        """REGISTER from SIPp's port: the `received` address Kamailio stores is then SIPp's."""
        with SipClient(*self.proxy, bind_port=self.sip_port) as client:
            response = client.register(
                username=self.username, domain=self.domain, password=self.password, expires=3600
            )
        if response.status != 200:
            raise RuntimeError(
                f"The called extension could not register: {response.status} {response.reason}"
            )

    def start(self, *, timeout: float = 10.0) -> SippEcho:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.register()
        command = [
            sipp_binary(),
            "-sf",
            str(SCENARIO),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.sip_port),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(self.media_port),
            # Server mode takes every call; no limit of its own on open calls.
            "-l",
            "100000",
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(self.directory / "sipp-errors.log"),
        ]
        if self.echo:
            command.append("-rtp_echo")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 — our own command line
                command,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                output = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                raise RuntimeError(f"SIPp did not start:\n{output[-3000:]}")
            time.sleep(0.05)
        return self

    def _listening(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", self.sip_port))
            except OSError:
                return True
        return False

    def stop(self, *, timeout: float = 5.0) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=timeout)
            self.process = None

    def __enter__(self) -> SippEcho:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- the calling side: one RTP endpoint per call ------------------------------------------------


@dataclass
class Leg:
    """One call of the calling extension: its RTP socket, where the relay wants its audio, and
    what came back."""

    index: int
    sock: socket.socket = field(init=False)
    call: Call | None = None
    relay: tuple[str, int] = ("", 0)  # where the relay wants this call's audio (its SDP answer)
    anchored: bool = False
    sent: int = 0
    received: int = 0
    duplicates: int = 0
    late: int = 0  # came back, but more than LATE seconds after it was sent
    extra_sent: int = 0  # packets not counted, sent after the counted ones (stream())
    extra_back: int = 0
    strays: int = 0  # from another address, or tagged for another call or packet
    renumbered: int = 0  # came back with another RTP sequence number than it was sent with
    jitter: float = 0.0  # RFC 3550 interarrival jitter, in timestamp units (1/8000 s)
    relay_from_caller: int | None = None  # rtpengine's counters, when it reported them
    relay_from_callee: int | None = None
    _send_times: list[float] = field(default_factory=list)
    _seen: bytearray = field(default_factory=bytearray)
    _last_transit: float | None = None
    round_trips: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.ssrc = 0x10000 + self.index
        self.port: int = self.sock.getsockname()[1]

    @property
    def answered(self) -> Call:
        """The call, for a leg whose INVITE was answered."""
        if self.call is None:
            raise RuntimeError(f"Call {self.index} was not answered.")
        return self.call

    def offer(self) -> str:
        return (
            f"v=0\r\no=bench {self.index} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {self.port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        )

    def prepare(self, packets: int) -> None:
        self._send_times = [0.0] * packets
        self._seen = bytearray(packets)

    def send(self, number: int, *, counted: bool = True) -> None:
        packet = (
            RTP_HEADER.pack(0x80, 0, number & 0xFFFF, (number * SAMPLES) & 0xFFFFFFFF, self.ssrc)
            + TAG.pack(self.index, number)
            + SILENCE
        )
        if not counted:
            with contextlib.suppress(OSError):
                self.sock.sendto(packet, self.relay)
                self.extra_sent += 1
            return
        self._send_times[number] = time.monotonic()
        try:
            self.sock.sendto(packet, self.relay)
        except OSError:
            return  # counted as sent and lost: the loss is what we measure
        finally:
            self.sent += 1

    def drain(self) -> None:
        """Every packet waiting on the socket."""
        while True:
            try:
                data, address = self.sock.recvfrom(2048)
            except BlockingIOError:
                return
            now = time.monotonic()
            if address != self.relay or len(data) < RTP_HEADER.size + TAG.size:
                self.strays += 1
                continue
            _, _, sequence, timestamp, _ = RTP_HEADER.unpack_from(data)
            index, number = TAG.unpack_from(data, RTP_HEADER.size)
            if index != self.index:
                self.strays += 1
                continue
            if number >= len(self._seen):
                self.extra_back += 1  # sent after the counted ones, to keep the call going
                continue

            if self._seen[number]:
                self.duplicates += 1
                continue
            self._seen[number] = 1
            self.received += 1
            self.renumbered += sequence != number & 0xFFFF
            round_trip = now - self._send_times[number]
            self.round_trips.append(round_trip)
            self.late += round_trip > LATE
            transit = now * 8000 - timestamp
            if self._last_transit is not None:
                self.jitter += (abs(transit - self._last_transit) - self.jitter) / 16
            self._last_transit = transit

    def close(self) -> None:
        self.sock.close()


def sdp_media_address(sdp: str) -> tuple[str, int] | None:
    """The c= address and the audio m= port of an SDP."""
    address = re.search(r"^c=IN IP4 (\S+)", sdp, flags=re.M)
    port = re.search(r"^m=audio (\d+) ", sdp, flags=re.M)
    return (address.group(1), int(port.group(1))) if address and port else None


def stream(
    legs: list[Leg], seconds: float, *, slots: int = 10, quiet: float = 1.0, drain: float = 10.0
) -> tuple[list[float], float]:
    """20 ms packets on every leg for `seconds`, the legs spread over `slots` instants of each
    20 ms, while receiving what comes back; then receiving until none of them came for `quiet`
    seconds (at most `drain`), so that a packet counted lost never came back, however late.
    Returns how late each instant's packets left and how long sending took (seconds): if this
    process could not keep up, it says so."""
    packets = max(1, round(seconds / PTIME))
    for leg in legs:
        leg.prepare(packets)
    by_fd = {leg.sock.fileno(): leg for leg in legs}
    groups = [legs[slot::slots] for slot in range(slots)]
    lateness: list[float] = []
    with select.epoll() as poller:
        for fd in by_fd:
            poller.register(fd, select.EPOLLIN)

        def receive_until(deadline: float) -> bool:
            """Whether anything came."""
            came = False
            while True:
                wait = deadline - time.monotonic()
                for fd, _ in poller.poll(max(0.0, wait)):
                    by_fd[fd].drain()
                    came = True
                if wait <= 0:
                    return came

        start = time.monotonic() + 0.05
        for number in range(packets):
            for slot, group in enumerate(groups):
                due = start + number * PTIME + slot * PTIME / slots
                receive_until(due)
                lateness.append(time.monotonic() - due)
                for leg in group:
                    leg.send(number)
        sending = time.monotonic() - start + PTIME / slots
        # The calls go on, a packet every 100 ms that is not counted, while the counted ones
        # come back: rtpengine reads a socket when a packet arrives on it, so a call that fell
        # silent at once would strand what was still queued there (late, not lost).
        until = time.monotonic() + drain
        extra, received, last_came = packets, -1, time.monotonic()
        while (now := time.monotonic()) < until and now - last_came < quiet:
            for leg in legs:
                leg.send(extra, counted=False)
            extra += 1
            receive_until(now + 0.1)
            if (total := sum(leg.received for leg in legs)) != received:
                received, last_came = total, time.monotonic()
    return lateness, sending


# --- one round ---------------------------------------------------------------------------------


@dataclass
class Account:
    username: str
    domain: str
    password: str


@dataclass
class RoundResult:
    calls: int
    answered: int
    anchored: int
    freed: int
    hung_up: int
    seconds: float
    sent: int
    received: int
    duplicates: int
    late: int
    strays: int
    renumbered: int
    relay_from_caller: int | None
    relay_from_callee: int | None
    # Packets the kernel dropped during the media: full receive buffers of SIPp's echo socket,
    # of the relay's sockets, of ours; and the machine's full input queues (loopback included).
    drops_echo: int
    drops_relay: int
    drops_client: int
    drops_backlog: int
    # Still waiting in receive buffers when the bench stopped receiving, kB: the echoes', the
    # relay's, the bench's (packets the relay had not got to: late, not dropped).
    queued_kb: tuple[int, int, int]
    udp_errors: dict[str, int]  # the machine's, during the media
    jitter_ms: float  # median over calls
    round_trip_ms: float  # median over packets
    round_trip_p99_ms: float
    send_seconds: float  # how long the bench took to send what it should have sent in SECONDS
    client_late_p99_ms: float
    rtpengine_cpu: float  # CPU seconds during the media
    kamailio_cpu: float
    kamailio_signalling_cpu: float  # CPU seconds for setting up and hanging up
    sipp_cpu: float
    client_cpu: float
    machine_busy: float  # share of all CPUs, during the media
    load: tuple[float, float, float]

    @property
    def loss(self) -> float:
        """Round-trip loss (caller → relay → SIPp → relay → caller): lost / sent."""
        return (self.sent - self.received) / self.sent if self.sent else 1.0

    @property
    def lost_or_late(self) -> float:
        """Loss counting the packets back later than LATE as lost, as a phone would."""
        return (self.sent - self.received + self.late) / self.sent if self.sent else 1.0

    @property
    def offered(self) -> float:
        """Packets per second per call the bench really sent, against the 50 a call sends."""
        return self.sent / self.answered / self.send_seconds * PTIME if self.answered else 0.0

    @property
    def relay_loss(self) -> float:
        """The loss not at the stand-ins' own sockets (SIPp's echo sockets, the bench's): in
        rtpengine, at its sockets, or in the machine's input queues."""
        if not self.sent:
            return 1.0
        return (self.sent - self.received - self.drops_echo - self.drops_client) / self.sent

    @property
    def ok(self) -> bool:
        """Every call answered, anchored, hung up and freed, and no packet came back wrong."""
        n = self.calls
        return (self.answered, self.anchored, self.hung_up, self.freed) == (n, n, n, n) and not (
            self.strays or self.renumbered
        )

    def core(self, cpu: float) -> float:
        """CPU seconds during the media as percent of one core."""
        return 100 * cpu / self.seconds if self.seconds else 0.0

    def per_call(self, cpu: float) -> float:
        """Percent of one core per call during the media."""
        return self.core(cpu) / self.calls if self.calls else 0.0


def pid(process: subprocess.Popen | None) -> int:
    if process is None:
        raise RuntimeError("Not running.")
    return process.pid


def total(counts: list[int | None]) -> int | None:
    """The sum, or None if one is unknown (rtpengine did not report a call's counters)."""
    known = [count for count in counts if count is not None]
    return sum(known) if len(known) == len(counts) else None


def _relay_counters(relay: Rtpengine, leg: Leg, caller_tag: str) -> None:
    """rtpengine's packet counters for the call: packets it received from the caller, and
    from the callee (SIPp's echo)."""
    answer = relay.query(leg.answered.call_id)
    if not answer:
        return
    for tag, details in answer.get("tags", {}).items():
        packets = sum(
            stream_.get("stats", {}).get("packets", 0)
            for media in details.get("medias", [])
            for stream_ in media.get("streams", [])
        )
        # Less the packets sent after the counted ones: all of them reached the relay if the
        # counted ones did (they came last); of their echoes, at least those the bench got.
        if tag == caller_tag:
            leg.relay_from_caller = packets - leg.extra_sent
        else:
            leg.relay_from_callee = (leg.relay_from_callee or 0) + packets - leg.extra_back


def run_round(
    *,
    kamailio: Kamailio,
    relay: Rtpengine,
    echoes: list[SippEcho],
    caller: Account,
    calls: int,
    seconds: float,
) -> RoundResult:
    """`calls` concurrent calls from `caller` to the extensions the `echoes` answer as, in turn;
    RTP on all of them for `seconds`; then hung up."""
    config = kamailio.config
    legs = [Leg(index) for index in range(calls)]

    def snapshot() -> CpuSnapshot:
        return CpuSnapshot.take(
            rtpengine_pid=pid(relay.process),
            kamailio_pgid=pid(kamailio.process),
            sipp_pids=[pid(echo.process) for echo in echoes],
        )

    load = os.getloadavg()
    try:
        with SipClient(config.listen_ip, config.sip_port, timeout=10.0) as client:
            cpu_setup = snapshot()
            for leg in legs:
                try:
                    call = client.invite(
                        number=echoes[leg.index % len(echoes)].username,
                        domain=caller.domain,
                        username=caller.username,
                        password=caller.password,
                        hangup=False,
                        sdp=leg.offer(),
                    )
                except SipError:
                    continue
                address = sdp_media_address(call.response.body)
                if call.status == 200 and address is not None:
                    leg.call, leg.relay = call, address
            answered = [leg for leg in legs if leg.call is not None]
            sessions = set(relay.calls(limit=calls + 1000))
            low, high = relay.config.port_min, relay.config.port_max
            for leg in answered:
                host, port = leg.relay
                leg.anchored = (
                    leg.answered.call_id in sessions
                    and host == relay.config.interface
                    and low <= port <= high
                )
            sockets_before, backlog_before, errors_before = udp_sockets(), backlog_drops(), udp_errors()
            cpu_media = snapshot()
            lateness, sending = stream(answered, seconds) if answered else ([0.0], seconds)
            cpu_after = snapshot()
            sockets_after, backlog_after, errors_after = udp_sockets(), backlog_drops(), udp_errors()
            for leg in answered:
                from_tag = leg.answered.from_header.partition(";tag=")[2]
                _relay_counters(relay, leg, from_tag)
            cpu_hangup = snapshot()
            hung_up = 0
            for leg in answered:
                with contextlib.suppress(SipError):
                    hung_up += client.bye(leg.answered).status == 200
            cpu_end = snapshot()
        ours = {leg.answered.call_id for leg in answered}
        deadline = time.monotonic() + 5
        while (left := ours & set(relay.calls(limit=calls + 1000))) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for leg in legs:
            leg.close()

    drops = {port: d - sockets_before.get(port, (0, 0))[0] for port, (d, _) in sockets_after.items()}
    queued = {port: q for port, (_, q) in sockets_after.items()}
    client_ports = {leg.port for leg in legs}
    echo_ports = {port for echo in echoes for port in (echo.media_port, echo.media_port + 2)}

    def relay_port(port: int) -> bool:
        return relay.config.port_min <= port <= relay.config.port_max

    jitters = [leg.jitter / 8 for leg in answered if leg.received > 1]
    trips = sorted(t * 1000 for leg in answered for t in leg.round_trips)
    return RoundResult(
        calls=calls,
        answered=len(answered),
        anchored=sum(leg.anchored for leg in answered),
        freed=len(ours - left),
        hung_up=hung_up,
        # CPU over the media and its drain, per second of audio sent.
        seconds=sending,
        sent=sum(leg.sent for leg in answered),
        received=sum(leg.received for leg in answered),
        duplicates=sum(leg.duplicates for leg in answered),
        late=sum(leg.late for leg in answered),
        strays=sum(leg.strays for leg in answered),
        renumbered=sum(leg.renumbered for leg in answered),
        relay_from_caller=total([leg.relay_from_caller for leg in answered]),
        relay_from_callee=total([leg.relay_from_callee for leg in answered]),
        drops_echo=sum(drops.get(port, 0) for port in echo_ports),
        drops_relay=sum(count for port, count in drops.items() if relay_port(port)),
        drops_client=sum(drops.get(port, 0) for port in client_ports),
        queued_kb=(
            sum(queued.get(port, 0) for port in echo_ports) // 1024,
            sum(count for port, count in queued.items() if relay_port(port)) // 1024,
            sum(queued.get(port, 0) for port in client_ports) // 1024,
        ),
        drops_backlog=backlog_after - backlog_before,
        udp_errors={name: count - errors_before[name] for name, count in errors_after.items()},
        jitter_ms=statistics.median(jitters) if jitters else math.nan,
        round_trip_ms=statistics.median(trips) if trips else math.nan,
        round_trip_p99_ms=trips[int(0.99 * (len(trips) - 1))] if trips else math.nan,
        send_seconds=sending,
        client_late_p99_ms=1000 * sorted(lateness)[int(0.99 * (len(lateness) - 1))],
        rtpengine_cpu=cpu_after.rtpengine - cpu_media.rtpengine,
        kamailio_cpu=cpu_after.kamailio - cpu_media.kamailio,
        kamailio_signalling_cpu=(cpu_media.kamailio - cpu_setup.kamailio)
        + (cpu_end.kamailio - cpu_hangup.kamailio),
        sipp_cpu=cpu_after.sipp - cpu_media.sipp,
        client_cpu=cpu_after.client - cpu_media.client,
        machine_busy=cpu_after.busy_since(cpu_media),
        load=load,
    )


def describe(result: RoundResult) -> str:
    relay = (
        f"relay got {result.relay_from_caller} from caller, {result.relay_from_callee} from echo"
        if result.relay_from_caller is not None
        else "relay counters n/a"
    )
    drops = (
        f"kernel drops: echo {result.drops_echo}, relay {result.drops_relay}, "
        f"bench {result.drops_client}, backlog {result.drops_backlog}; still queued kB: echo "
        f"{result.queued_kb[0]}, relay {result.queued_kb[1]}, bench {result.queued_kb[2]}; "
        "machine's UDP errors " + " ".join(f"{name} {count}" for name, count in result.udp_errors.items())
    )
    return (
        f"{result.calls} calls: answered {result.answered}, anchored {result.anchored}, "
        f"hung up {result.hung_up}, freed {result.freed}; sent {result.sent}, back {result.received} "
        f"(loss {100 * result.loss:.3f} %, with late ones {100 * result.lost_or_late:.3f} %, "
        f"relay's share {100 * result.relay_loss:.3f} %; {relay}; "
        f"{drops}; duplicates {result.duplicates}, strays {result.strays}, "
        f"renumbered {result.renumbered}); jitter {result.jitter_ms:.2f} ms, "
        f"rtt {result.round_trip_ms:.2f}/{result.round_trip_p99_ms:.2f} ms (median/p99); "
        f"CPU % of a core: rtpengine {result.core(result.rtpengine_cpu):.0f} "
        f"({result.per_call(result.rtpengine_cpu):.3f}/call), "
        f"Kamailio {result.core(result.kamailio_cpu):.1f}, "
        f"SIPp {result.core(result.sipp_cpu):.0f}, bench {result.core(result.client_cpu):.0f}; "
        f"machine {100 * result.machine_busy:.0f} % busy; "
        f"bench sent {100 * result.offered:.0f} % of 50 packets/s a call, late p99 "
        f"{result.client_late_p99_ms:.1f} ms; load {result.load[0]:.2f}"
    )


# --- the bench -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL),
        help="Scratch PostgreSQL database (created and dropped). Default: %(default)s",
    )
    parser.add_argument(
        "--counts",
        default=DEFAULT_COUNTS,
        help="Concurrent calls per step, rising; the bench stops after the first step whose "
        "loss passes 0.1 %% (default %(default)s).",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="Seconds of RTP per round (default 10).")
    parser.add_argument(
        "--rounds", type=int, default=3, help="Rounds per step; medians reported (default 3)."
    )
    parser.add_argument(
        "--calls-per-echo",
        type=int,
        default=25,
        help="Called extensions: one SIPp echo process per this many calls of the largest count; "
        "the calls go to them in turn (default 25; see docs/performance.md for why).",
    )
    parser.add_argument("--children", type=int, default=4, help="Kamailio worker processes (default 4).")
    parser.add_argument("--quick", action="store_true", help="A smoke run: 2 calls, 2 seconds, one round.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args(argv)
    if args.quick:
        args.counts, args.seconds, args.rounds = "2", 2.0, 1
    args.counts = [int(c) for c in args.counts.split(",")]
    args.echoes = math.ceil(max(args.counts) / args.calls_per_echo)
    return args


def create_accounts(echoes: int) -> tuple[Account, list[Account]]:
    """A hotline with the calling extension 100 and the called extensions 200, 201, …"""
    from django.core.management import call_command

    from bench.data import hotline_create
    from extensions.services import extension_create
    from tenants.models import Tenant

    call_command("migrate", "--noinput", verbosity=0)
    tenant = Tenant.objects.create(name="Bench calls", slug="bench-calls")
    hotline = hotline_create(tenant=tenant, number="19006000")
    accounts = []
    for number in ["100", *(str(200 + i) for i in range(echoes))]:
        password = f"Bench-calls-x{int(number) * 7}"  # the policy: never the extension number
        extension_create(hotline=hotline, number=number, alias=f"bench{number}", password=password)
        accounts.append(Account(number, hotline.sip_domain, password))
    return accounts[0], accounts[1:]


def median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def table(steps: dict[int, list[RoundResult]]) -> str:
    header = (
        "| calls | rounds | anchored | sent | sent/nominal rate | lost | loss % (worst) "
        "| lost or late % | relay's share % "
        "| relay in: caller / echo "
        "| kernel drops: echo / relay / bench | jitter ms | RTT ms p50 / p99 "
        "| rtpengine %core/call | Kamailio ms/call (set-up+BYE) | Kamailio % during media "
        "| machine CPU % | load 1 min |"
    )
    lines = [header, "|" + "---:|" * 18]
    for calls, results in steps.items():
        sent = sum(r.sent for r in results)
        lost = sum(r.sent - r.received for r in results)
        # Summed over the rounds: /proc counts CPU in 10 ms ticks.
        signalling = sum(r.kamailio_signalling_cpu for r in results)
        relay_caller = total([r.relay_from_caller for r in results])
        relay_echo = total([r.relay_from_callee for r in results])
        relay = (
            f"{relay_caller} / {relay_echo}" if relay_caller is not None and relay_echo is not None else "n/a"
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    str(calls),
                    str(len(results)),
                    f"{sum(r.anchored for r in results)}/{sum(r.calls for r in results)}",
                    str(sent),
                    f"{100 * median([r.offered for r in results]):.0f} %",
                    str(lost),
                    f"{100 * median([r.loss for r in results]):.3f} "
                    f"({100 * max(r.loss for r in results):.3f})",
                    f"{100 * median([r.lost_or_late for r in results]):.3f}",
                    f"{100 * median([r.relay_loss for r in results]):.3f}",
                    relay,
                    f"{sum(r.drops_echo for r in results)} / {sum(r.drops_relay for r in results)} / "
                    f"{sum(r.drops_client for r in results)}",
                    f"{median([r.jitter_ms for r in results]):.2f}",
                    f"{median([r.round_trip_ms for r in results]):.2f} / "
                    f"{median([r.round_trip_p99_ms for r in results]):.2f}",
                    f"{median([r.per_call(r.rtpengine_cpu) for r in results]):.3f}",
                    f"{1000 * signalling / sum(r.calls for r in results):.2f}",
                    f"{median([r.core(r.kamailio_cpu) for r in results]):.1f}",
                    f"{median([100 * r.machine_busy for r in results]):.0f}",
                    f"{median([r.load[0] for r in results]):.2f}",
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM (`timeout`, a CI runner) unwinds like Ctrl-C, so what was started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from bench.data import machine, recreate_database, setup_django

    recreate_database(args.database_url)
    setup_django(args.database_url, os.environ.get("BENCH_REDIS_URL", ""))
    from django.db import connection

    runtime = Path(tempfile.mkdtemp(prefix="calls-bench-"))
    relay = kamailio = None
    echoes: list[SippEcho] = []
    steps: dict[int, list[RoundResult]] = {}
    reached: int | None = None  # round-trip loss past LOSS_LIMIT
    late_reached: int | None = None  # lost or late past LOSS_LIMIT
    relay_reached: int | None = None  # the relay's share past LOSS_LIMIT
    failed = False
    try:
        caller, callees = create_accounts(args.echoes)
        about = machine()
        db_url = db_url_for(connection.settings_dict)
        connection.close()
        port_min, port_max = relay_port_range(4 * max(args.counts) + 200)
        relay = Rtpengine(
            RtpengineConfig(
                ng_port=free_port(socket.SOCK_DGRAM),
                port_min=port_min,
                port_max=port_max,
                delete_delay=0,
                runtime_dir=runtime / "rtpengine",
            )
        ).start()
        kamailio = Kamailio(
            KamailioConfig(
                db_url=db_url,
                sip_port=free_sip_port(),
                ws_port=free_port(),
                children=args.children,
                runtime_dir=runtime / "kamailio",
                rtpengine_sock=relay.config.kamailio_socket,
            )
        ).start()
        print(f"Machine: {about}")
        print(
            f"rtpengine 10.5 userspace (--table=-1, 2 threads), Kamailio 5.6 ({args.children} workers), "
            f"a SIPp echo per {args.calls_per_echo} calls; {args.seconds:g} s of 20 ms PCMU per round, "
            f"{args.rounds} round(s) per step; "
            f"load average at start {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
            flush=True,
        )
        for calls in args.counts:
            # The echoes this count needs, started as the counts rise: an idle SIPp still costs
            # about 0.6 % of a core, which the small counts need not pay for forty of them.
            while len(echoes) < math.ceil(calls / args.calls_per_echo):
                callee = callees[len(echoes)]
                echo = SippEcho(
                    runtime / f"sipp-{callee.username}",
                    proxy=(kamailio.config.listen_ip, kamailio.config.sip_port),
                    username=callee.username,
                    domain=callee.domain,
                    password=callee.password,
                )
                echoes.append(echo)
                echo.start()
            results = steps.setdefault(calls, [])
            for _ in range(args.rounds):
                result = run_round(
                    kamailio=kamailio,
                    relay=relay,
                    echoes=echoes,
                    caller=caller,
                    calls=calls,
                    seconds=args.seconds,
                )
                results.append(result)
                print(("  " if result.ok else "! ") + describe(result), flush=True)
                failed |= not result.ok
            if reached is None and median([r.loss for r in results]) > LOSS_LIMIT:
                reached = calls
            if late_reached is None and median([r.lost_or_late for r in results]) > LOSS_LIMIT:
                late_reached = calls
            if median([r.relay_loss for r in results]) > LOSS_LIMIT:
                relay_reached = calls
                break
            if median([r.loss for r in results]) > GIVE_UP_LOSS:
                print(f"Round-trip loss above {100 * GIVE_UP_LOSS:g} %: no larger counts.")
                break
            if median([r.offered for r in results]) < MIN_OFFERED:
                print(
                    f"The bench sent less than {100 * MIN_OFFERED:g} % of the packets a call sends "
                    "per second (this machine is too busy to offer the load): no larger counts."
                )
                break
        print()
        print(table(steps))
        print()
        top = max(steps)
        print(
            "Loss not at the stand-ins' sockets (the relay's share) > 0.1 %: "
            + (f"at {relay_reached}" if relay_reached else f"not reached up to {top}")
            + " concurrent calls."
        )
        print(
            f"Lost or back later than {1000 * LATE:.0f} ms > 0.1 %: "
            + (f"at {late_reached}" if late_reached else f"not reached up to {top}")
            + " concurrent calls."
        )
        print(
            "Round-trip loss > 0.1 %: "
            + (f"at {reached}" if reached else f"not reached up to {top}")
            + " concurrent calls."
        )
        return 1 if failed else 0
    finally:
        for echo in echoes:
            echo.stop()
        for server in (kamailio, relay):
            if server is not None:
                server.stop()
        shutil.rmtree(runtime, ignore_errors=True)
        if not args.keep:
            connection.close()
            recreate_database(args.database_url, drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
