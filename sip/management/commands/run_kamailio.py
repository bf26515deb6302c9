"""`make sip`: the media relay (rtpengine) and Kamailio in the foreground against the
dashboard's database; Ctrl-C stops both."""

import os
import signal
import subprocess

from django.core.management.base import BaseCommand, CommandError

from sip.kamailio import Kamailio, KamailioError, config_from_settings, login_info_problems
from sip.rtpengine import Rtpengine, RtpengineError
from sip.rtpengine import config_from_environment as rtpengine_config


class Stop(Exception):
    """SIGTERM (e.g. a service manager or a test stopping the process group)."""


class Command(BaseCommand):
    help = (
        "Run rtpengine (the media relay) and Kamailio (deploy/kamailio/kamailio.cfg) in the "
        "foreground, listening where the login info points (SIP_OUTBOUND_PROXY, "
        "SIP_WEBSOCKET_URL; with SIP_TLS=1 also SIP over TLS and WebSocket over TLS) and reading "
        "this project's database (or KAMAILIO_DB_URL). Refuses to start when the login info offers "
        "a transport it would not serve. Stop both with Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Only check the configuration.")
        parser.add_argument("--children", type=int, help="Worker processes (default 4).")

    def handle(self, *args, check: bool = False, children: int | None = None, **options):
        overrides = {"children": children} if children else {}
        config = config_from_settings(**overrides)
        # The login info must not offer what this Kamailio will not serve (wss:// without TLS).
        problems = login_info_problems(config)
        if problems:
            raise CommandError(
                "The login info offers what Kamailio would not serve:\n  - "
                + "\n  - ".join(problems)
                + "\nFix the settings (see docs/sip.md, “TLS and WSS”)."
            )
        relay_config = rtpengine_config(default_interface=config.listen_ip)
        # RTPENGINE_START=0: a relay run elsewhere (its own service), reached at RTPENGINE_NG.
        start_relay = os.environ.get("RTPENGINE_START", "1") != "0"
        config.rtpengine_sock = relay_config.kamailio_socket
        config.prepare()
        kamailio = Kamailio(config)
        try:
            kamailio.check_config()
        except KamailioError as exc:
            raise CommandError(str(exc)) from exc
        shown_db = config.db_url.split("@")[-1] if "@" in config.db_url else config.db_url
        ports = f"{relay_config.port_min}-{relay_config.port_max}"
        relay = (
            f"rtpengine on {relay_config.interface}, RTP ports {ports}"
            if start_relay
            else "rtpengine started elsewhere"
        )
        served = config.served()
        lines = [f"Kamailio: SIP udp+tcp {served['udp']}, WebSocket {served['ws']}, database {shown_db}"]
        if config.tls:
            lines.append(
                f"TLS: SIP over TLS {served['tls']}, WebSocket over TLS {served['wss']} "
                f"(certificate {config.tls_cert_file})"
            )
        lines += [
            f"Media relay: {relay}, control {config.rtpengine_sock}",
            f"Calls out: {config.gateway_uri or 'no gateway (SIP_GATEWAY_URI): 503'}; supervision: "
            f"{config.media_server_uri or 'no media server (SIP_MEDIA_SERVER_URI): 503'}",
            f"Reload hotline domains / dial rules: kamcmd -s unix:{config.ctl_socket} domain.reload"
            " / dialplan.reload",
        ]
        self.stdout.write("\n".join(lines))
        if check:
            return
        self.stdout.flush()
        if not start_relay:
            # Become Kamailio: it keeps the terminal, its log and Ctrl-C.
            command = config.command()
            os.execve(command[0], command, config.environment())  # noqa: S606 — our own command line
        self._run_both(config, relay_config)

    def _run_both(self, config, relay_config) -> None:
        """rtpengine, then Kamailio, both in this process group, so Ctrl-C in the terminal
        reaches both; this process waits for Kamailio and stops the relay by its PID, whichever
        way it ends (Ctrl-C, SIGTERM, Kamailio exiting)."""

        def terminate(signum, frame):
            raise Stop

        signal.signal(signal.SIGTERM, terminate)
        relay = Rtpengine(relay_config, new_session=False)
        kamailio = None
        try:
            try:
                relay.start(log_to_terminal=True)
            except RtpengineError as exc:
                raise CommandError(str(exc)) from exc
            command = config.command()
            kamailio = subprocess.Popen(command, env=config.environment())  # noqa: S603 — our own command line
            returncode = kamailio.wait()
            if returncode:
                raise CommandError(f"Kamailio exited with {returncode}.")
        except (KeyboardInterrupt, Stop):
            pass
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if kamailio is not None and kamailio.poll() is None:
                kamailio.terminate()
                try:
                    kamailio.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    kamailio.kill()
                    kamailio.wait()
            relay.stop()
