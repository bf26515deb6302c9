"""Turn Kamailio's accounting rows into call history (see sip/call_records.py); with --follow,
also notice registration changes with no page open (sip.live.presence_sync_all)."""

import logging
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection

from sip.call_records import call_records_import
from sip.live import presence_sync_all

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Import Kamailio's accounting rows into the call history. --follow keeps doing it every "
        "second and notices registration changes (registration.online/offline webhooks, the "
        "offline alert) whether or not a page is open: run it as a service beside Kamailio."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--follow",
            action="store_true",
            help="Keep importing, and watch registrations (Ctrl-C to stop).",
        )
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between rounds with --follow."
        )

    def handle(self, *args, follow: bool, interval: float, **options):
        if not follow:
            self.stdout.write(f"{len(call_records_import())} calls ended")
            return
        while True:
            try:
                ended = call_records_import()
                changed = presence_sync_all()
            except DatabaseError as error:
                # The database went away for a moment (a restart, a failover): try again on a
                # new connection next round, instead of leaving calls and registrations unseen.
                logger.warning("import_call_records: %s; trying again", error)
                connection.close()
            else:
                if ended:
                    self.stdout.write(f"{len(ended)} calls ended")
                if changed:
                    self.stdout.write(f"{len(changed)} registrations changed")
            time.sleep(interval)
