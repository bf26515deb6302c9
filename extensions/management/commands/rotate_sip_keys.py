"""Re-encrypt every stored SIP password under the newest key of SIP_ENCRYPTION_KEYS.

Rotation: put a new key first in SIP_ENCRYPTION_KEYS (keep the old ones after it), deploy,
run this command, then remove the old keys.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from core import crypto
from extensions.models import Extension

BATCH = 1000


class Command(BaseCommand):
    help = "Re-encrypt every stored SIP password under the newest key."

    def handle(self, *args, **options):
        total = 0
        ids = list(Extension.objects.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), BATCH):
            with transaction.atomic():
                batch = list(
                    Extension.objects.select_for_update()
                    .filter(pk__in=ids[start : start + BATCH])
                    .only("pk", "password_encrypted")
                )
                for extension in batch:
                    extension.password_encrypted = crypto.reencrypt(extension.password_encrypted)
                Extension.objects.bulk_update(batch, ["password_encrypted"])
                total += len(batch)
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} SIP passwords under the newest key."))
