"""A webhook receiver for the tests: a real HTTP server on a loopback port that records what it
gets. It can be started late (the port refuses connections until then) and made slow."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sip.kamailio import free_port


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.requests: list[dict] = []
        self.delay = 0.0
        self.status = 200
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[dict]:
        with self._lock:
            return [json.loads(r["body"]) for r in self.requests]

    def wait_for(self, predicate, timeout: float = 20.0) -> list[dict]:
        """The received events once `predicate(events)` holds (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if predicate(events):
                return events
            time.sleep(0.1)
        raise AssertionError(f"timed out; received: {[e['event'] for e in self.events()]}")


class Trickler:
    """An endpoint that accepts a connection, reads the request and answers one byte every
    `every` seconds (an endless header; with `tls`, an endless TLS handshake), until stopped:
    no single read ever waits long."""

    def __init__(self, every: float = 0.05, *, tls: bool = False) -> None:
        self.every = every
        self.tls = tls
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hook"
        self.requests = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._sock.settimeout(0.2)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _address = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.requests += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            if self.tls:  # to the ClientHello: a TLS handshake record (16 KiB long) that never ends
                answer = b"\x16\x03\x03\x40\x00" + b"\x02" * 100_000
            else:
                answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 100_000
            try:
                for byte in answer:
                    if self._stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(self.every)
            except OSError:
                return  # the client gave up

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()
