"""`make turn`: coturn in the foreground for the web phone on this machine, with the dashboard's
TURN secret (WEB_PHONE_TURN_SECRET, or with DEBUG on one derived from DJANGO_SECRET_KEY, so the
demo needs nothing); Ctrl-C stops it. For local use: it relays to the loopback, where `make sip`'s
rtpengine is, which a production TURN server must never do (docs/deployment.md)."""

import os
import signal
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from sip.turn import DEFAULT_RUNTIME_DIR, TurnConfig, TurnError, TurnServer, turn_secret


class Command(BaseCommand):
    help = (
        "Run coturn (TURN for the web phone) in the foreground on TURN_LISTEN (default "
        "127.0.0.1:3478, UDP and TCP), relaying from TURN_RELAY_IP (default the listen address) on "
        "ports TURN_PORT_MIN-TURN_PORT_MAX (49160-49200), with the dashboard's TURN secret. "
        "Then run the dashboard with WEB_PHONE_TURN_URLS set as it prints. Stop it with Ctrl-C."
    )

    def handle(self, *args, **options):
        host, _, port = os.environ.get("TURN_LISTEN", "127.0.0.1:3478").rpartition(":")
        config = TurnConfig(
            secret=turn_secret(),
            listen_ip=host or "127.0.0.1",
            port=int(port),
            relay_ip=os.environ.get("TURN_RELAY_IP", host or "127.0.0.1"),
            min_port=int(os.environ.get("TURN_PORT_MIN", "49160")),
            max_port=int(os.environ.get("TURN_PORT_MAX", "49200")),
            realm=os.environ.get("TURN_REALM", "turn.localhost"),
            runtime_dir=Path(os.environ.get("TURN_RUNTIME_DIR", DEFAULT_RUNTIME_DIR)),
        )
        server = TurnServer(config, new_session=False)

        def terminate(signum, frame):
            raise KeyboardInterrupt  # SIGTERM (a service manager) stops it as Ctrl-C does

        signal.signal(signal.SIGTERM, terminate)
        try:
            server.start()
        except TurnError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"coturn on {config.listen_ip}:{config.port} (log: {config.log_file}). Run the dashboard with\n"
            f"  WEB_PHONE_TURN_URLS={','.join(config.urls())}\n"
            "and, to see every call go through it, WEB_PHONE_ICE_TRANSPORT_POLICY=relay. Ctrl-C stops it."
        )
        try:
            while server.process is not None and server.process.poll() is None:
                time.sleep(0.5)
            if server.process is not None:
                code = server.process.returncode
                raise CommandError(f"turnserver exited with {code}: see {config.log_file}")
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
