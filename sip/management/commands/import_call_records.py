"""Turn Kamailio's accounting rows into call history (see sip/call_records.py)."""

import time

from django.core.management.base import BaseCommand

from sip.call_records import call_records_import


class Command(BaseCommand):
    help = "Import Kamailio's accounting rows into the call history; --follow keeps doing it every second."

    def add_arguments(self, parser):
        parser.add_argument("--follow", action="store_true", help="Keep importing (Ctrl-C to stop).")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between imports with --follow."
        )

    def handle(self, *args, follow: bool, interval: float, **options):
        while True:
            ended = call_records_import()
            if ended or not follow:
                self.stdout.write(f"{len(ended)} calls ended")
            if not follow:
                return
            time.sleep(interval)
