"""Delete call records past each tenant's retention period (meant for cron, e.g. nightly)."""

from django.core.management.base import BaseCommand

from sip.call_records import call_records_purge


class Command(BaseCommand):
    help = (
        "Delete call records older than each tenant's retention period (Tenant.call_retention_days), "
        "in batches; one audit row per tenant with the number deleted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=5000, help="Rows deleted per transaction.")

    def handle(self, *args, batch: int, **options):
        counts = call_records_purge(batch=batch)
        for tenant, count in counts.items():
            self.stdout.write(f"{tenant}: {count} call records deleted")
        self.stdout.write(f"{sum(counts.values())} call records deleted in all")
