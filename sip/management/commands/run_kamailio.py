"""`make sip`: Kamailio in the foreground against the dashboard's database."""

import os

from django.core.management.base import BaseCommand, CommandError

from sip.kamailio import Kamailio, KamailioError, config_from_settings


class Command(BaseCommand):
    help = (
        "Run Kamailio (deploy/kamailio/kamailio.cfg) in the foreground, listening where the login "
        "info points (SIP_OUTBOUND_PROXY, SIP_WEBSOCKET_URL) and reading this project's database "
        "(or KAMAILIO_DB_URL). Stop it with Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Only check the configuration.")
        parser.add_argument("--children", type=int, help="Worker processes (default 4).")

    def handle(self, *args, check: bool = False, children: int | None = None, **options):
        overrides = {"children": children} if children else {}
        config = config_from_settings(**overrides)
        config.prepare()
        kamailio = Kamailio(config)
        try:
            kamailio.check_config()
        except KamailioError as exc:
            raise CommandError(str(exc)) from exc
        shown_db = config.db_url.split("@")[-1] if "@" in config.db_url else config.db_url
        self.stdout.write(
            f"Kamailio: SIP udp+tcp {config.listen_ip}:{config.sip_port}, "
            f"WebSocket ws://{config.listen_ip}:{config.ws_port}{config.ws_path}, database {shown_db}\n"
            f"Calls out: {config.gateway_uri or 'no gateway (SIP_GATEWAY_URI): 503'}; supervision: "
            f"{config.media_server_uri or 'no media server (SIP_MEDIA_SERVER_URI): 503'}\n"
            f"Reload hotline domains / dial rules: kamcmd -s unix:{config.ctl_socket} domain.reload"
            " / dialplan.reload"
        )
        if check:
            return
        self.stdout.flush()
        # Become Kamailio: it keeps the terminal, its log and Ctrl-C.
        command = config.command()
        os.execve(command[0], command, config.environment())  # noqa: S606 — our own command line
