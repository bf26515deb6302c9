"""`make sip`: Kamailio in the foreground against the dashboard's database."""

import os

from django.core.management.base import BaseCommand, CommandError

from sip.kamailio import Kamailio, KamailioError, config_from_settings, login_info_problems


class Command(BaseCommand):
    help = (
        "Run Kamailio (deploy/kamailio/kamailio.cfg) in the foreground, listening where the login "
        "info points (SIP_OUTBOUND_PROXY, SIP_WEBSOCKET_URL; with SIP_TLS=1 also SIP over TLS and "
        "WebSocket over TLS) and reading this project's database (or KAMAILIO_DB_URL). Refuses to "
        "start when the login info offers a transport it would not serve. Stop it with Ctrl-C."
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
        kamailio = Kamailio(config)
        try:
            config.prepare()
            kamailio.check_config()
        except KamailioError as exc:
            raise CommandError(str(exc)) from exc
        shown_db = config.db_url.split("@")[-1] if "@" in config.db_url else config.db_url
        served = config.served()
        lines = [
            f"Kamailio: SIP udp+tcp {served['udp']}, WebSocket {served['ws']}, database {shown_db}",
        ]
        if config.tls:
            lines.append(
                f"TLS: SIP over TLS {served['tls']}, WebSocket over TLS {served['wss']} "
                f"(certificate {config.tls_cert_file})"
            )
        lines += [
            f"Calls out: {config.gateway_uri or 'no gateway (SIP_GATEWAY_URI): 503'}; supervision: "
            f"{config.media_server_uri or 'no media server (SIP_MEDIA_SERVER_URI): 503'}",
            f"Reload hotline domains / dial rules: kamcmd -s unix:{config.ctl_socket} domain.reload"
            " / dialplan.reload",
        ]
        self.stdout.write("\n".join(lines))
        if check:
            return
        self.stdout.flush()
        # Become Kamailio: it keeps the terminal, its log and Ctrl-C.
        command = config.command()
        os.execve(command[0], command, config.environment())  # noqa: S606 — our own command line
