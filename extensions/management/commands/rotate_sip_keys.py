"""`manage.py rotate_sip_keys`: re-encrypt every stored secret under the newest key of
SIP_ENCRYPTION_KEYS, then check that the newest key alone reads them all.

Rotation (docs/deployment.md): put a new key first in SIP_ENCRYPTION_KEYS, keep the old ones
after it, restart, run this command until it exits 0, and only then remove the old keys.

It runs under live traffic. Each batch is its own short transaction that locks its rows by
primary key only, in id order, as every writer of extensions does (extensions.services.batch),
so it never holds a lock another writer needs before one it holds; a batch that still meets a
deadlock or a lock timeout (a writer that locks in another order) is rolled back and tried
again. Re-running is cheap: a secret the newest key already reads is skipped.
"""

import random
import time
from collections.abc import Iterator

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection, models, transaction

from core import crypto
from core.services import bulk_update_values
from extensions.models import Extension, ImportJob
from webhooks.models import WebhookEndpoint

# Every stored Fernet token (what `crypto.encrypt` made): one line per (model, field).
SECRET_FIELDS: list[tuple[type[models.Model], str]] = [
    (Extension, "password_encrypted"),
    (ImportJob, "csv_encrypted"),  # uploads waiting to be applied; emptied once applied
    (WebhookEndpoint, "secret_encrypted"),  # the secrets that sign webhook requests
]
BATCH = 500
MAX_TRIES = 6
# A batch waits at most this long for a row a web request holds, then backs off and retries.
LOCK_TIMEOUT_MS = 5000
# SQLSTATEs after which the whole batch can simply be tried again.
RETRYABLE = {"40P01": "deadlock", "55P03": "lock timeout", "40001": "serialization failure"}


def _label(model: type[models.Model], field: str) -> str:
    return f"{model._meta.label}.{field}"


def _tokens(model: type[models.Model], field: str) -> Iterator[tuple[int, str]]:
    """(pk, token) of every stored secret, streamed in id order (empty fields hold nothing)."""
    return (
        model._default_manager.exclude(**{field: ""})
        .order_by("pk")
        .values_list("pk", field)
        .iterator(chunk_size=2000)
    )


def _retry_reason(exc: OperationalError) -> str | None:
    """Why a batch failed, when trying it again can help; None for any other error."""
    cause = exc.__cause__
    code = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
    if code in RETRYABLE:
        return RETRYABLE[code]
    if connection.vendor == "sqlite" and "locked" in str(exc):
        return "database locked"
    return None


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (SIP passwords, pending CSV uploads, webhook secrets) under "
        "the newest key of SIP_ENCRYPTION_KEYS, then check that the newest key alone decrypts them "
        "all. Exits "
        "non-zero while any secret still needs an older key: keep the old keys until it exits 0."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only check that every secret decrypts with the newest key alone (exit 1 if not).",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH, help=f"Rows per transaction ({BATCH}).")
        parser.add_argument(
            "--lock-timeout",
            type=int,
            default=LOCK_TIMEOUT_MS,
            help=f"Milliseconds a batch waits for a locked row before it retries ({LOCK_TIMEOUT_MS}).",
        )

    def handle(self, *args, check: bool, batch_size: int, lock_timeout: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.batch_size, self.lock_timeout, self.retries = batch_size, lock_timeout, 0
        if not check:
            done = already = 0
            for model, field in SECRET_FIELDS:
                rotated, skipped = self._rotate(model, field)
                done, already = done + rotated, already + skipped
            self.stdout.write(
                f"Re-encrypted {done} secrets under the newest key ({already} already were; "
                f"{self.retries} batch retries after a deadlock or lock timeout)."
            )
        self._check()

    # --- re-encryption ---------------------------------------------------------------------

    def _rotate(self, model: type[models.Model], field: str) -> tuple[int, int]:
        """Re-encrypt one field's secrets that the newest key cannot read yet; returns (how
        many were re-encrypted, how many already were under the newest key)."""
        label = _label(model, field)
        total, pending = 0, []
        for pk, token in _tokens(model, field):
            total += 1
            if not crypto.readable_with_newest(token):
                pending.append(pk)
        self.stdout.write(f"{label}: {total} secrets, {len(pending)} to re-encrypt.")
        done = 0
        for start in range(0, len(pending), self.batch_size):
            pks = pending[start : start + self.batch_size]
            rotated = self._with_retries(model, field, pks)
            if rotated is None:
                self.stderr.write(
                    f"{label}: gave up on ids {pks[0]}–{pks[-1]} after {MAX_TRIES} tries; "
                    "they stay under an older key (run the command again)."
                )
                continue
            done += rotated
            self.stdout.write(f"{label}: {start + len(pks)}/{len(pending)} done ({done} re-encrypted).")
        return done, total - len(pending)

    def _with_retries(self, model: type[models.Model], field: str, pks: list[int]) -> int | None:
        """The batch's count of re-encrypted secrets, or None when it kept failing."""
        for attempt in range(1, MAX_TRIES + 1):
            try:
                return self._rotate_batch(model, field, pks)
            except OperationalError as exc:
                reason = _retry_reason(exc)
                if reason is None:
                    raise
                again = attempt < MAX_TRIES
                self.stdout.write(
                    f"{_label(model, field)}: {reason} on ids {pks[0]}–{pks[-1]} "
                    f"(try {attempt}/{MAX_TRIES}){', retrying' if again else ''}."
                )
                if again:
                    self.retries += 1
                    # Back off (with jitter) so the other writer can finish first.
                    time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
        return None

    def _rotate_batch(self, model: type[models.Model], field: str, pks: list[int]) -> int:
        """One short transaction: lock the rows by primary key, in id order and without a join
        (the way every writer locks them), re-encrypt the ones still under an older key."""
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{self.lock_timeout}ms"])
            rows = list(
                model._default_manager.select_for_update(of=("self",))
                .filter(pk__in=pks)
                .order_by("pk")
                .only("pk", field)
            )
            changed = []
            for row in rows:
                token = getattr(row, field)
                # Rewritten since the scan (a new password is encrypted under the newest key).
                if not token or crypto.readable_with_newest(token):
                    continue
                try:
                    setattr(row, field, crypto.reencrypt(token))
                except InvalidToken:
                    continue  # no key decrypts it: the check below reports it
                changed.append(row)
            bulk_update_values(model, changed, [field])
        return len(changed)

    # --- the check -------------------------------------------------------------------------

    def _check(self) -> None:
        """Decrypt every stored secret with the newest key alone; CommandError (exit 1) with
        the counts when any cannot be, since removing the older keys would lose them."""
        total = older = lost = 0
        for model, field in SECRET_FIELDS:
            count = needs_older = unreadable = 0
            for _pk, token in _tokens(model, field):
                count += 1
                if crypto.readable_with_newest(token):
                    continue
                try:
                    crypto.fernet().decrypt(token.encode())
                    needs_older += 1
                except InvalidToken:
                    unreadable += 1
            self.stdout.write(
                f"{_label(model, field)}: {count} secrets, {needs_older} still need an older key, "
                f"{unreadable} readable with no key."
            )
            total, older, lost = total + count, older + needs_older, lost + unreadable
        problems = []
        if older:
            problems.append(
                f"{older} of {total} secrets still need an older key: do not remove the old keys; "
                "run the command again."
            )
        if lost:
            problems.append(
                f"{lost} of {total} secrets cannot be decrypted with any key of SIP_ENCRYPTION_KEYS "
                "(was a key removed too early?): put that key back, or regenerate those passwords."
            )
        if problems:
            raise CommandError(" ".join(problems))
        self.stdout.write(
            self.style.SUCCESS(
                f"{total} secrets, all readable with the newest key — you may now remove the old keys."
            )
        )
