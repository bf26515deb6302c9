"""`manage.py rotate_sip_keys`: under live traffic every secret ends up readable with the newest
key alone, or the command says how many are not and exits non-zero."""

import io
import random
import threading
import time
from collections import Counter

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection, transaction

from extensions.choices import ImportStatus
from extensions.imports import import_job_apply, import_job_create
from extensions.models import Extension, ImportJob
from extensions.passwords import digest_ha1
from extensions.services import extension_update
from extensions.services.bulk import (
    extension_bulk_regenerate_passwords,
    extension_bulk_update,
    extension_range_create,
)
from tests.factories import HotlineFactory, make_extension

pytestmark = pytest.mark.django_db

HEADER = "number,alias,call_permission,supervisor,outbound_hotlines,outbound_groups,description,enabled"


class Keys:
    """An old key that made the stored secrets and a new one that replaces it."""

    def __init__(self, settings):
        self.settings = settings
        self.old, self.new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
        settings.SIP_ENCRYPTION_KEYS = [self.old]

    def prepend_new(self) -> None:
        """Step 2 of the rotation: the new key first, the old one still there."""
        self.settings.SIP_ENCRYPTION_KEYS = [self.new, self.old]

    def drop_old(self) -> None:
        """Step 4: the old key is gone."""
        self.settings.SIP_ENCRYPTION_KEYS = [self.new]


@pytest.fixture
def keys(settings):
    return Keys(settings)


def rotate(*args: str, **options) -> str:
    out = io.StringIO()
    call_command("rotate_sip_keys", *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def assert_every_secret_readable_with(key: str) -> None:
    """Decrypt every stored secret with `key` alone (raises InvalidToken otherwise), and check
    each password still matches the digests the SIP server checks."""
    alone = MultiFernet([Fernet(key.encode())])
    for ext in Extension.objects.select_related("hotline"):
        password = alone.decrypt(ext.password_encrypted.encode()).decode()
        assert ext.ha1 == digest_ha1(ext.number, ext.hotline.sip_domain, password)
    for token in ImportJob.objects.exclude(csv_encrypted="").values_list("csv_encrypted", flat=True):
        alone.decrypt(token.encode())


def test_rotate_sip_keys_reencrypts_under_the_newest_key(keys):
    hotline = HotlineFactory.create()
    passwords = {make_extension(hotline, str(n)).pk: None for n in range(100, 110)}
    for ext in Extension.objects.filter(pk__in=passwords):
        passwords[ext.pk] = ext.get_sip_password()
    keys.prepend_new()
    out = rotate("--batch-size", "3")
    assert "Re-encrypted 10 secrets" in out
    assert "extensions.Extension.password_encrypted: 9/10 done" in out  # progress per batch
    assert "10 secrets, all readable with the newest key — you may now remove the old keys" in out
    # Idempotent: a second run finds nothing left to do.
    assert "Re-encrypted 0 secrets under the newest key (10 already were" in rotate()
    keys.drop_old()
    for ext in Extension.objects.filter(pk__in=passwords).select_related("hotline"):
        password = ext.get_sip_password()
        assert password == passwords[ext.pk]
        assert ext.ha1 == digest_ha1(ext.number, ext.hotline.sip_domain, password)


def test_check_exits_non_zero_with_the_count_while_a_secret_needs_the_old_key(keys):
    hotline = HotlineFactory.create()
    for n in range(100, 103):
        make_extension(hotline, str(n))
    keys.prepend_new()
    make_extension(hotline, "103")  # made after the new key came: already under it
    with pytest.raises(CommandError, match=r"3 of 4 secrets still need an older key: do not remove"):
        rotate("--check")
    assert Extension.objects.count() == 4  # --check changes nothing: still 3 under the old key
    with pytest.raises(CommandError, match="3 of 4"):
        rotate("--check")
    assert "4 secrets, all readable with the newest key" in rotate()
    assert "4 secrets, all readable with the newest key" in rotate("--check")


def test_a_secret_no_key_decrypts_makes_the_rotation_exit_non_zero(keys):
    hotline = HotlineFactory.create()
    make_extension(hotline, "100")
    lost = Fernet(Fernet.generate_key())  # a key somebody removed too early
    Extension.objects.filter(number="100").update(password_encrypted=lost.encrypt(b"x").decode())
    make_extension(hotline, "101")
    keys.prepend_new()
    with pytest.raises(CommandError, match="1 of 2 secrets cannot be decrypted with any key"):
        rotate()
    keys.drop_old()
    assert Extension.objects.get(number="101").get_sip_password()  # the other one was rotated


def test_a_pending_upload_applies_after_the_rotation_without_the_old_key(keys, world):
    text = "\r\n".join([HEADER, "103,kd03,mobile,,,,Ghi chú,true"]) + "\r\n"
    job = import_job_create(hotline=world.hotline_a, user=world.admin_a, filename="a.csv", data=text.encode())
    keys.prepend_new()
    out = rotate()
    assert "extensions.ImportJob.csv_encrypted: 1 secrets, 1 to re-encrypt" in out
    keys.drop_old()
    result = import_job_apply(job=job)
    job.refresh_from_db()
    assert result.applied and job.status == ImportStatus.APPLIED
    assert Extension.objects.get(hotline=world.hotline_a, number="103").description == "Ghi chú"


# --- under live traffic (committed rows, real threads, each with its own connection) ---------


def _blocked_by_me(cursor) -> int:
    """How many backends wait for a lock this connection holds (pg_locks is read live)."""
    cursor.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
    )
    return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_with_a_writer_locking_in_another_order_is_retried(keys):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are tested on PostgreSQL (set DATABASE_URL)")
    hotline = HotlineFactory.create()
    extension_range_create(hotline=hotline, first="100", last="109", alias_pattern="sale{n}")
    ids = list(Extension.objects.order_by("pk").values_list("pk", flat=True))
    keys.prepend_new()
    holding, errors = threading.Event(), []

    def writer_locking_backwards():
        """Lock the last row, wait until the rotation waits for it, then ask for the first row,
        which the rotation holds: a deadlock."""
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # Look for deadlocks late here, so PostgreSQL picks the rotation as the victim.
                cursor.execute("SET LOCAL deadlock_timeout = '30s'")
                cursor.execute("SELECT id FROM extensions_extension WHERE id = %s FOR UPDATE", [ids[-1]])
                holding.set()
                deadline = time.monotonic() + 20
                while not _blocked_by_me(cursor):
                    assert time.monotonic() < deadline, "the rotation never waited for the locked row"
                    time.sleep(0.02)
                cursor.execute(
                    "UPDATE extensions_extension SET description = 'backwards' WHERE id = %s", [ids[0]]
                )
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=writer_locking_backwards)
    thread.start()
    assert holding.wait(10)
    try:
        out = rotate("--batch-size", "100")
    finally:
        thread.join(30)
    assert not errors, errors
    assert "deadlock on ids" in out and "(try 1/6), retrying" in out
    assert "1 batch retries after a deadlock or lock timeout" in out
    assert "10 secrets, all readable with the newest key" in out
    assert Extension.objects.get(pk=ids[0]).description == "backwards"  # the writer's change stands
    keys.drop_old()
    assert_every_secret_readable_with(keys.new)


@pytest.mark.django_db(transaction=True)
def test_a_row_locked_all_along_fails_the_rotation_with_the_count_and_a_rerun_finishes(keys):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are tested on PostgreSQL (set DATABASE_URL)")
    hotline = HotlineFactory.create()
    extension_range_create(hotline=hotline, first="100", last="109", alias_pattern="sale{n}")
    ids = list(Extension.objects.order_by("pk").values_list("pk", flat=True))
    keys.prepend_new()
    holding, release = threading.Event(), threading.Event()

    def long_transaction():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT id FROM extensions_extension WHERE id = %s FOR UPDATE", [ids[4]])
                holding.set()
                release.wait(60)
        finally:
            connection.close()

    thread = threading.Thread(target=long_transaction)
    thread.start()
    assert holding.wait(10)
    out = io.StringIO()
    try:
        with pytest.raises(CommandError, match="2 of 10 secrets still need an older key"):
            call_command(
                "rotate_sip_keys",
                "--batch-size",
                "2",
                "--lock-timeout",
                "50",
                stdout=out,
                stderr=io.StringIO(),
            )
    finally:
        release.set()
        thread.join(30)
    # The batch of ids[4] timed out on every try and was left; the others were re-encrypted.
    assert out.getvalue().count(f"lock timeout on ids {ids[4]}–{ids[5]}") == 6
    assert "Re-encrypted 8 secrets under the newest key (0 already were; 5 batch retries" in out.getvalue()
    assert "Re-encrypted 2 secrets under the newest key (8 already were" in rotate()  # resumes
    keys.drop_old()
    assert_every_secret_readable_with(keys.new)


@pytest.mark.django_db(transaction=True)
def test_a_rotation_under_concurrent_writes_leaves_every_secret_readable_with_the_new_key(keys):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are tested on PostgreSQL (set DATABASE_URL)")
    hotline = HotlineFactory.create()
    extension_range_create(hotline=hotline, first="100", last="299", alias_pattern="sale{n}")
    ids = list(Extension.objects.order_by("pk").values_list("pk", flat=True))
    job = import_job_create(
        hotline=hotline,
        user=None,
        filename="a.csv",
        data=("\r\n".join([HEADER, "300,kd300,mobile,,,,,true"]) + "\r\n").encode(),
    )
    keys.prepend_new()
    stop, problems, counts = threading.Event(), [], Counter[str]()

    def through_the_services(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                pick = rng.sample(ids, 5)
                what = rng.choice(("update", "bulk", "regenerate"))
                try:
                    if what == "update":
                        extension_update(
                            extension=Extension.objects.get(pk=pick[0]), data={"description": f"w{seed}"}
                        )
                    elif what == "bulk":
                        extension_bulk_update(
                            extensions=Extension.objects.filter(pk__in=pick),
                            data={"call_permission": rng.randint(1, 4)},
                        )
                    else:
                        extension_bulk_regenerate_passwords(extensions=Extension.objects.filter(pk__in=pick))
                    counts[what] += 1
                except OperationalError:  # a deadlock with the raw transaction below
                    counts["writer deadlocks"] += 1
        except Exception as exc:  # reported by the main thread
            problems.append(exc)
        finally:
            connection.close()

    def locking_backwards(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                try:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT id FROM extensions_extension WHERE id = ANY(%s) "
                            "ORDER BY id DESC FOR UPDATE",
                            [rng.sample(ids, 20)],
                        )
                        time.sleep(0.02)
                    counts["backwards"] += 1
                except OperationalError:
                    counts["backwards deadlocks"] += 1
        except Exception as exc:
            problems.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=through_the_services, args=(seed,)) for seed in (1, 2)]
    threads.append(threading.Thread(target=locking_backwards, args=(3,)))
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)  # the traffic is under way before the rotation starts
        out = rotate("--batch-size", "20")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not problems, problems
    assert counts["update"] and counts["bulk"] and counts["regenerate"] and counts["backwards"], counts
    assert "201 secrets, all readable with the newest key" in out, out
    keys.drop_old()
    assert_every_secret_readable_with(keys.new)
    assert "201 secrets, all readable with the newest key" in rotate("--check")
    assert import_job_apply(job=job).applied
