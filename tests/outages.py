"""A Redis, a PostgreSQL cluster and a dashboard server of a test's own, to kill and hang as an
operator would meet them (never the shared servers of the machine)."""

import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sip.kamailio import free_port

BASE_DIR = Path(__file__).resolve().parent.parent


def wait_until(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def _answers(port: int, payload: bytes, expected: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(payload)
            return sock.recv(64).startswith(expected)
    except OSError:
        return False


class RedisServer:
    """redis-server on a free port, keeping nothing on disk (as this machine's Redis)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (make system-deps installs it)")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(lambda: _answers(self.port, b"PING\r\n", b"+PONG"), timeout=10, what="Redis starts")

    def kill(self) -> None:
        """Gone at once, as after a crash: connections refused."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Killed and started again on the same port, empty."""
        self.kill()
        self.start()

    def hang(self) -> None:
        """Stopped (SIGSTOP): connections are accepted by the kernel, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.resume()
            self.kill()


class PostgresCluster:
    """A PostgreSQL cluster of its own (initdb) on a free port, owned by the `postgres` user when
    the tests run as root (PostgreSQL refuses to run as root)."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int | None = None, settings: dict | None = None
    ) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
        if not found:
            pytest.skip("PostgreSQL's server binaries are not installed (make system-deps installs them)")
        self.bin = Path(found[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="pbx-pg-"))
        self.data = self.root / "data"
        self.host = host
        self.port = port or free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.root, user="postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=60)

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@{self.host}:{self.port}/{dbname}"

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={self.host}"
        options += " -c recovery_init_sync_method=syncfs"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def kill(self) -> None:
        """Immediate shutdown, as a crash: no checkpoint; the next start recovers from the WAL."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        """Fast shutdown, as an operator's: sessions are ended, a checkpoint is written."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def replicate(self, primary: "PostgresCluster") -> None:
        """Become a streaming replica of `primary` (pg_basebackup -R: standby.signal and
        primary_conninfo written) and start; the primary must accept replication connections
        from the loopback (initdb's trust rules do)."""
        self._run(
            str(self.bin / "pg_basebackup"),
            f"--host={primary.host}",
            f"--port={primary.port}",
            "--username=postgres",
            f"--pgdata={self.data}",
            "--write-recovery-conf",
            "--wal-method=stream",
            "--checkpoint=fast",
            "--no-sync",
        )
        self.start()

    def promote(self) -> None:
        """A replica becomes a primary (pg_ctl promote), returning once it accepts writes."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "promote")

    def _postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def hang(self) -> None:
        """The postmaster stopped (SIGSTOP): new connections are accepted by the kernel and never
        answered; sessions already open go on."""
        os.kill(self._postmaster(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self._postmaster(), signal.SIGCONT)

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.resume()
            self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, seconds: float) -> None:
        self.status, self.headers, self.body, self.seconds = status, headers, body, seconds

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self):
        return json.loads(self.body)


class DashboardServer:
    """The dashboard in a process of its own (`runserver`, threaded, DEBUG off, the production
    settings sped up as for the tests), on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "pbx_admin.settings_test",
            "DJANGO_DEBUG": "0",
            **env,
        }
        self.log = log
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "runserver",
                    "--noreload",
                    "--skip-checks",
                    f"127.0.0.1:{self.port}",
                ],
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: _answers(self.port, b"HEAD /healthz HTTP/1.0\r\n\r\n", b"HTTP/"),
            timeout=30,
            what="the server starts",
        )

    def request(self, method: str, path: str, *, body=None, headers=None, timeout: float = 20) -> Response:
        headers = dict(headers or {})
        if body is not None:
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        started = time.monotonic()
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            return Response(
                answer.status, dict(answer.getheaders()), answer.read(), time.monotonic() - started
            )
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
