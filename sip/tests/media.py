"""Real audio for the media tests: tone files, the dominant frequency of what a phone heard, and
baresip (a real softphone, Debian's baresip-core) driven over its ctrl_tcp interface.

Standard library only: the frequency analysis is a Goertzel scan, fast enough for a second of
8 kHz audio."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from extensions.credentials import LoginInfo
from sip.g711 import ulaw_decode, ulaw_encode
from sip.kamailio import free_port, free_sip_port, host_port
from sip.processes import stop_process

BARESIP = shutil.which("baresip") or "/usr/bin/baresip"
BARESIP_MODULES = Path("/usr/lib/baresip/modules")


# --- tones and what was heard ---------------------------------------------------------------


def write_tone(
    path: Path, frequency: float, *, seconds: float = 30.0, rate: int = 8000, level: float = 0.4
) -> Path:
    """A mono 16-bit sine tone, the microphone of a test phone."""
    amplitude = int(32767 * level)
    step = 2 * math.pi * frequency / rate
    frames = struct.pack(
        f"<{int(rate * seconds)}h", *(int(amplitude * math.sin(step * i)) for i in range(int(rate * seconds)))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def read_wav(path: Path) -> tuple[list[float], int]:
    """Samples of channel 1 as floats in [-1, 1], and the sample rate."""
    with wave.open(str(path), "rb") as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        raw = wav.readframes(wav.getnframes())
    if width != 2:
        raise ValueError(f"{path}: {width * 8}-bit audio, expected 16-bit")
    samples = struct.unpack(f"<{len(raw) // 2}h", raw)[::channels]
    return [s / 32768 for s in samples], rate


def goertzel_power(samples: list[float], rate: int, frequency: float) -> float:
    """The power of one frequency in the samples (normalised: a full-scale sine gives 0.25)."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coefficient * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / (len(samples) ** 2)


@dataclass
class Spectrum:
    """The loudest frequency heard, its share of the signal's power, and the signal's RMS."""

    frequency: float
    share: float
    rms: float


def dominant_frequency(
    samples: list[float], rate: int, *, low: float = 100, high: float = 3400, step: float = 10
) -> Spectrum:
    """Scan low..high Hz (G.711's band) in `step` Hz and return the loudest frequency."""
    if not samples:
        return Spectrum(0.0, 0.0, 0.0)
    rms = math.sqrt(sum(x * x for x in samples) / len(samples))
    powers = {}
    frequency = low
    while frequency <= high:
        powers[frequency] = goertzel_power(samples, rate, frequency)
        frequency += step
    best = max(powers, key=powers.__getitem__)
    # A pure sine of RMS r has Goertzel power r²/2 at its own bin.
    share = powers[best] * 2 / (rms * rms) if rms else 0.0
    return Spectrum(best, share, rms)


def heard(path: Path, *, skip: float = 1.0, seconds: float = 1.5) -> Spectrum:
    """What a recording holds after its first `skip` seconds (call set-up, jitter buffer)."""
    samples, rate = read_wav(path)
    start = int(skip * rate)
    return dominant_frequency(samples[start : start + int(seconds * rate)], rate)


# --- baresip --------------------------------------------------------------------------------


class BaresipError(RuntimeError):
    pass


def _free_baresip_port() -> int:
    """A port free for UDP and TCP whose next port is free for TCP too: baresip listens on
    sip_listen for UDP and TCP, and on the port after it for TLS, and fails to start otherwise."""
    for _ in range(50):
        port = free_sip_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise BaresipError("No port free for baresip's UDP, TCP and TLS listeners.")


@dataclass
class Baresip:
    """One baresip softphone in a directory of its own: registers with `info` (the login info
    the dashboard reveals) over UDP to the proxy, plays `tone` as its microphone, records what
    it sends and hears (sndfile: dump-…-enc.wav / dump-…-dec.wav), answers calls by itself
    (`answer=True`), and is driven over ctrl_tcp (JSON in netstrings).

    Only the G.711 codecs are loaded, so a browser preferring Opus needs the relay to transcode.
    """

    info: LoginInfo
    directory: Path
    tone: Path
    answer: bool = True
    codecs: tuple[str, ...] = ("g711",)
    sip_port: int = 0
    ctrl_port: int = 0
    process: subprocess.Popen | None = None
    events: list[dict] = field(default_factory=list)
    _sock: socket.socket | None = None
    _buffer: bytes = b""
    _token: int = 0

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sip_port = self.sip_port or _free_baresip_port()
        self.ctrl_port = self.ctrl_port or free_port()

    # config ---------------------------------------------------------------------------------

    def write_config(self) -> None:
        proxy_host, proxy_port = host_port(self.info.proxy, 5060)
        modules = "\n".join(f"module {codec}.so" for codec in self.codecs)
        (self.directory / "config").write_text(
            f"""poll_method epoll
sip_listen 127.0.0.1:{self.sip_port}
net_interface 127.0.0.1
# Every address it needs is an IP on the loopback: no DNS query leaves the machine.
dns_server 127.0.0.1:53
audio_source aufile,{self.tone}
audio_alert aufile,{self.tone}
ausrc_srate 8000
ausrc_channels 1
audio_path {self.directory}
snd_path {self.directory}
rtp_timeout 0
module_path {BARESIP_MODULES}
{modules}
module aufile.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}
"""
        )
        answermode = "auto" if self.answer else "manual"
        (self.directory / "accounts").write_text(
            f'"{self.info.display_name}" <sip:{self.info.username}@{self.info.domain}>'
            f";auth_user={self.info.username};auth_pass={self.info.password}"
            f';outbound="sip:{proxy_host}:{proxy_port};transport=udp"'
            f";regint=300;answermode={answermode}\n"
        )

    # process --------------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.directory / "baresip.log"

    def start(self, *, timeout: float = 10.0) -> Baresip:
        if not Path(BARESIP).exists():
            raise BaresipError("baresip is not installed: run `make system-deps` (baresip-core).")
        self.write_config()
        with open(self.log_path, "wb") as log:
            # -s: SIP trace in the log, so a test can read the SDP this phone received.
            self.process = subprocess.Popen(  # noqa: S603 — our own command line
                [BARESIP, "-f", str(self.directory), "-s"],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise BaresipError(f"baresip exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BaresipError(f"baresip did not start:\n{self.log()[-3000:]}") from None
                time.sleep(0.1)
        # Registered: the REGISTER_OK event may come before ctrl_tcp has a client, the log stays.
        while not re.search(r"\{0/UDP/v4\} 200 OK", self.log()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BaresipError(f"baresip did not register:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        if self.process is None:
            return
        stop_process(self.process, timeout=5)
        self.process = None

    def __enter__(self) -> Baresip:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ctrl_tcp -------------------------------------------------------------------------------

    def command(self, command: str, params: str = "", *, timeout: float = 5.0) -> dict:
        """Run a menu command (dial, hangup, accept, …) and return baresip's response."""
        self._token += 1
        token = str(self._token)
        payload = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._connection().sendall(b"%d:%s," % (len(payload), payload))
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            if message.get("response") and message.get("token") == token:
                return message
            if message.get("event"):
                self.events.append(message)

    def wait_event(self, kind: str, *, timeout: float = 10.0) -> dict:
        """The next event of this type (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, …)."""
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("type") == kind:
                self.events.remove(event)
                return event
        while True:
            try:
                message = self._read(deadline)
            except TimeoutError:
                raise BaresipError(
                    f"no {kind} from baresip within {timeout}s; events: {self.events}\n{self.log()[-4000:]}"
                ) from None
            if message.get("event"):
                if message.get("type") == kind:
                    return message
                self.events.append(message)

    def _connection(self) -> socket.socket:
        if self._sock is None:
            raise BaresipError("baresip is not running: start() it first")
        return self._sock

    def _read(self, deadline: float) -> dict:
        while True:
            match = re.match(rb"(\d+):", self._buffer)
            if match:
                length = int(match.group(1))
                start = match.end()
                if len(self._buffer) >= start + length + 1:
                    payload = self._buffer[start : start + length]
                    self._buffer = self._buffer[start + length + 1 :]
                    return json.loads(payload)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            connection = self._connection()
            connection.settimeout(remaining)
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                raise TimeoutError from None
            if not chunk:
                raise BaresipError(f"baresip closed its control connection:\n{self.log()[-3000:]}")
            self._buffer += chunk

    # calls ----------------------------------------------------------------------------------

    def dial(self, number: str) -> None:
        self.command("dial", f"sip:{number}@{self.info.domain}")

    def hangup(self) -> None:
        self.command("hangup")

    def recording(self, direction: str) -> Path:
        """The WAV of the last call: "dec" what this phone heard, "enc" what it sent."""
        found = sorted(self.directory.glob(f"dump-*-{direction}.wav"))
        if not found:
            raise BaresipError(f"baresip recorded no {direction} audio:\n{self.log()[-3000:]}")
        return found[-1]

    def received_sdp(self) -> list[str]:
        """The SDP bodies of the SIP messages this phone received (from its SIP trace, -s)."""
        bodies = []
        trace = self.log().replace("\r\n", "\n")
        for block in re.findall(r"\x1b\[36;1m#\n(.*?)\x1b\[;m", trace, flags=re.S):
            route, _, message = block.partition("\n")
            if route.rstrip().endswith(f":{self.sip_port}") and "\n\n" in message:
                body = message.split("\n\n", 1)[1].strip()
                # A retransmission carries the same body again.
                if body.startswith("v=0") and body not in bodies:
                    bodies.append(body)
        return bodies


# --- SDP ------------------------------------------------------------------------------------


def sdp_media_ports(sdp: str) -> list[int]:
    """The ports an SDP asks to receive media on: m= lines, a=rtcp and ICE candidates."""
    ports = [int(p) for p in re.findall(r"^m=audio (\d+) ", sdp, flags=re.M)]
    ports += [int(p) for p in re.findall(r"^a=rtcp:(\d+)", sdp, flags=re.M)]
    ports += [int(p) for p in re.findall(r"^a=candidate:\S+ \d+ \S+ \d+ \S+ (\d+) ", sdp, flags=re.M)]
    return ports


def sdp_addresses(sdp: str) -> set[str]:
    """Every address an SDP names for media: c= lines and ICE candidates."""
    found = set(re.findall(r"^c=IN IP[46] (\S+)", sdp, flags=re.M))
    found |= set(re.findall(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) ", sdp, flags=re.M))
    return found


def sdp_profile(sdp: str) -> str:
    match = re.search(r"^m=audio \d+ (\S+) ", sdp, flags=re.M)
    return match.group(1) if match else ""


# --- the WebRTC phone: JsSIP in Chromium ----------------------------------------------------

JS_DIR = Path(__file__).parent / "js"
JSSIP_BUNDLE = JS_DIR / "build" / "jssip.js"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def chromium_args(tone: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # The microphone: a fake capture device playing the tone file (looped), no prompt.
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={tone}",
        # ICE on the loopback (the relay's candidates are 127.0.0.1), with real addresses in
        # candidates rather than mDNS names the relay cannot resolve.
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        # WebAudio runs without a click.
        "--autoplay-policy=no-user-gesture-required",
        # wss:// to the self-signed certificate `make sip` generates (SIP_TLS=1).
        "--ignore-certificate-errors",
    ]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 — the base class's name
        pass


@contextlib.contextmanager
def page_server() -> Iterator[str]:
    """sip/tests/js over http://127.0.0.1:<free port>/: a secure context (getUserMedia needs
    one) on the loopback, which Chromium lets reach Kamailio's loopback WebSocket."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(JS_DIR)))
    thread = threading.Thread(target=server.serve_forever, name="media-page", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/media_phone.html"
    finally:
        server.shutdown()
        server.server_close()


class BrowserPhone:
    """One page of sip/tests/js/media_phone.html (window.mediaPhone), in its own Chromium."""

    def __init__(self, page) -> None:
        self.page = page

    def start(
        self, info: LoginInfo, *, websocket_url: str, opus_only: bool = False, auto_answer: bool = False
    ) -> str:
        """Register; "registered", or "failed: …" / "timeout"."""
        login = {**info.as_dict(), "websocket_url": websocket_url}
        return self.page.evaluate(
            "([info, options]) => mediaPhone.start(info, options)",
            [login, {"opusOnly": opus_only, "autoAnswer": auto_answer}],
        )

    def call(self, uri: str) -> None:
        self.page.evaluate("(uri) => mediaPhone.call(uri)", uri)

    def wait_for(self, *prefixes: str, seconds: float = 15) -> str:
        return self.page.evaluate("([p, s]) => mediaPhone.waitFor(p, s)", [list(prefixes), seconds])

    def listen(self, seconds: float = 2) -> dict:
        """{frequency, share, levelDb} of the remote audio (WebAudio analyser)."""
        return self.page.evaluate("(s) => mediaPhone.listen(s)", seconds)

    def stats(self) -> dict:
        return self.page.evaluate("() => mediaPhone.stats()")

    def remote_sdps(self) -> list[str]:
        """The SDP bodies received, each once (JsSIP reports an answer again on a retransmitted
        200 OK)."""
        return list(dict.fromkeys(self.page.evaluate("() => mediaPhone.state.remoteSdps")))

    def local_sdp(self) -> str:
        return self.page.evaluate("() => mediaPhone.state.session.connection.localDescription.sdp")

    def hangup(self) -> None:
        self.page.evaluate("() => mediaPhone.hangup()")


@contextlib.contextmanager
def browser_phones(*tones: Path) -> Iterator[list[BrowserPhone]]:
    """One headless Chromium per tone (the fake microphone is per browser process)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Debian's chromium is not installed at {CHROMIUM}: run `make system-deps`.")
    if not JSSIP_BUNDLE.exists():
        raise RuntimeError("JsSIP is not built: run `make js-deps` (npm).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, page_server() as url:
        browsers = []
        phones: list[BrowserPhone] = []
        try:
            for tone in tones:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=chromium_args(tone))
                browsers.append(browser)
                page = browser.new_page()
                page.goto(url)
                page.wait_for_function("() => window.mediaPhone && window.JsSIP")
                phones.append(BrowserPhone(page))
            yield phones
        finally:
            for phone in phones:
                with contextlib.suppress(Exception):  # a page that broke: its browser closes anyway
                    phone.page.evaluate("() => mediaPhone.stop()")
            for browser in browsers:
                browser.close()


# --- a bare RTP endpoint (G.711 µ-law), for a SIP client that has no audio of its own ---------


class RtpTone:
    """Sends a tone as PCMU RTP (20 ms packets) to an address and keeps what comes back
    decoded, on a loopback UDP port of its own: the audio of a test's plain SIP client."""

    def __init__(self, frequency: float) -> None:
        self.frequency = frequency
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.received: list[float] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def sdp(self) -> str:
        return (
            f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {self.port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        )

    def start(self, address: tuple[str, int]) -> None:
        for target in (self._send, self._receive):
            thread = threading.Thread(target=target, args=(address,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.sock.close()

    def _send(self, address: tuple[str, int]) -> None:
        ssrc, sequence, step = 0x5EED, 0, 2 * math.pi * self.frequency / 8000
        start = time.monotonic()
        while not self._stop.is_set():
            payload = bytes(
                ulaw_encode(int(12000 * math.sin(step * (sequence * 160 + i)))) for i in range(160)
            )
            header = struct.pack("!BBHII", 0x80, 0, sequence & 0xFFFF, (sequence * 160) & 0xFFFFFFFF, ssrc)
            with contextlib.suppress(OSError):
                self.sock.sendto(header + payload, address)
            sequence += 1
            time.sleep(max(0.0, start + sequence * 0.02 - time.monotonic()))

    def _receive(self, address: tuple[str, int]) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except (TimeoutError, OSError):
                continue
            if len(data) > 12 and data[1] & 0x7F == 0:  # PCMU
                self.received.extend(ulaw_decode(b) / 32768 for b in data[12:])
