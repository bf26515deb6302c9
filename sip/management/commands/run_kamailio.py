"""`make sip`: the media relay (rtpengine), the listen service (sip.listen, *33) and Kamailio in
the foreground against the dashboard's database; Ctrl-C stops all three."""

import os
import signal
import subprocess

from django.core.management.base import BaseCommand, CommandError

from sip.kamailio import Kamailio, KamailioError, config_from_settings, host_port, login_info_problems
from sip.listen import ListenProcess
from sip.rtpengine import Rtpengine, RtpengineError
from sip.rtpengine import config_from_environment as rtpengine_config


class Stop(Exception):
    """SIGTERM (e.g. a service manager or a test stopping the process group)."""


class Command(BaseCommand):
    help = (
        "Run rtpengine (the media relay), the listen service (*33) and Kamailio "
        "(deploy/kamailio/kamailio.cfg) in the foreground, listening where the login info points "
        "(SIP_OUTBOUND_PROXY, SIP_WEBSOCKET_URL; with SIP_TLS=1 also SIP over TLS and WebSocket "
        "over TLS) and reading this project's database (or KAMAILIO_DB_URL). Refuses to start when "
        "the login info offers a transport it would not serve. Stop them with Ctrl-C."
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
        # LISTEN_SERVICE: where the listen service takes *33 calls (the loopback, next to Kamailio:
        # it reads Kamailio's dialogs through the control socket). LISTEN_SERVICE_START=0: not
        # started, *33 answered 503.
        listen_host, listen_port = host_port(os.environ.get("LISTEN_SERVICE", "127.0.0.1:5090"), 5090)
        listen = None
        if os.environ.get("LISTEN_SERVICE_START", "1") != "0":
            listen = ListenProcess(
                host=listen_host,
                port=listen_port,
                rtpengine=relay_config.ng_address,
                kamailio_ctl=f"unix:{config.ctl_socket}",
                # Kamailio's own address: only it may send calls there.
                allow=tuple(dict.fromkeys(("127.0.0.1", config.listen_ip))),
                new_session=False,
            )
            config.listen_uri = listen.uri
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
            f"Calls out: {config.gateway_uri or 'no gateway (SIP_GATEWAY_URI): 503'}; listening (*33): "
            f"{config.listen_uri or 'no listen service (LISTEN_SERVICE_START=0): 503'}; whisper (*34), "
            "barge (*35): 501, rtpengine cannot mix",
            f"Reload hotline domains / dial rules: kamcmd -s unix:{config.ctl_socket} domain.reload"
            " / dialplan.reload",
        ]
        self.stdout.write("\n".join(lines))
        if check:
            return
        self.stdout.flush()
        if not start_relay and listen is None:
            # Become Kamailio: it keeps the terminal, its log and Ctrl-C.
            command = config.command()
            os.execve(command[0], command, config.environment())  # noqa: S606 — our own command line
        self._run_all(config, relay_config if start_relay else None, listen)

    def _run_all(self, config, relay_config, listen) -> None:
        """rtpengine, the listen service, then Kamailio, all in this process group, so Ctrl-C in
        the terminal reaches them; this process waits for Kamailio and stops the others by their
        PIDs, whichever way it ends (Ctrl-C, SIGTERM, Kamailio exiting)."""

        def terminate(signum, frame):
            raise Stop

        signal.signal(signal.SIGTERM, terminate)
        relay = Rtpengine(relay_config, new_session=False) if relay_config else None
        kamailio = None
        try:
            try:
                if relay is not None:
                    relay.start(log_to_terminal=True)
                if listen is not None:
                    listen.start()
            except (RtpengineError, RuntimeError) as exc:
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
            if listen is not None:
                listen.stop()
            if relay is not None:
                relay.stop()
