"""Stopping a process we started, by its PID: SIGTERM, then SIGKILL if it lingers. Used for
rtpengine, the test softphones (baresip) and the calls bench's SIPp; Kamailio, whose children
must go too, is stopped by its process group (sip.kamailio.Kamailio.stop)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_process(process: subprocess.Popen, *, timeout: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
