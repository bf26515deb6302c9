"""The CSV export streams (extensions.imports): batch by batch, with flat memory and a fixed
number of queries per batch; the first chunk leaves before the last rows are read; with
passwords, each batch is audited (committed) before it is decrypted, also when the client goes
away mid-stream. bench/bench_export.py measures it at 100,000 extensions."""

import gc
import math
import tracemalloc

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from audit.choices import Action
from audit.models import AuditEvent
from extensions import imports
from extensions.choices import CallPermission
from extensions.models import Extension
from tests.api import api_client
from tests.factories import HotlineFactory

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/extensions/export/"
EXTENSION_ROWS = {"action": Action.EXPORT, "object_type": "extensions.extension"}


def make_extensions(hotline, count: int, *, first: int = 100_000, group=None) -> list[Extension]:
    """`count` extensions, fast (one encrypted password for all; bulk_create): every tenth
    supervised by the first, every seventh with a caller-ID hotline and a number group."""
    template = Extension(hotline=hotline, number="0")
    template.set_sip_password("Export-Stream-Pw-1")
    created = Extension.objects.bulk_create(
        Extension(
            hotline=hotline,
            number=str(first + i),
            alias=f"nv{first + i}",
            call_permission=CallPermission.values[i % 4],
            description=f"Nhân viên {i} — ca sáng" if i % 3 else "=1+1",
            enabled=bool(i % 5),
            password_encrypted=template.password_encrypted,
            ha1=template.ha1,
            ha1b=template.ha1b,
        )
        for i in range(count)
    )
    boss = created[0]
    Extension.objects.filter(pk__in=[e.pk for e in created[1::10]]).update(supervisor=boss)
    Extension.outbound_hotlines.through.objects.bulk_create(
        Extension.outbound_hotlines.through(extension_id=e.pk, hotline_id=hotline.pk) for e in created[::7]
    )
    if group is not None:
        Extension.outbound_groups.through.objects.bulk_create(
            Extension.outbound_groups.through(extension_id=e.pk, numbergroup_id=group.pk)
            for e in created[::7]
        )
    return created


def old_export_rows(hotline) -> list[dict[str, str]]:
    """The export as it was before it streamed: the whole hotline loaded at once (`_Hotline`,
    which the import still uses for its "before" values), in number order."""
    loaded = imports._Hotline(hotline)
    return [loaded.csv_values(e) for e in sorted(loaded.extensions, key=lambda e: (len(e.number), e.number))]


def peak_while_streaming(hotline) -> int:
    """Bytes allocated at the peak while the whole CSV is produced and dropped chunk by chunk."""
    gc.collect()
    tracemalloc.start()
    try:
        for _chunk in imports.iter_export_csv(imports.export_rows(hotline=hotline)):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- the same file as before ---------------------------------------------------------------------


@pytest.mark.parametrize("batch", [2, 3, 1000])
def test_batches_change_nothing_in_the_file(world, monkeypatch, batch):
    """Numbers of every length (numeric order across batches), supervisors, caller IDs and
    groups in other batches: the rows are the ones the whole-hotline export gave."""
    hotline = world.hotline_a
    extensions = world.ext_a
    for number, alias in [("99", "kd99"), ("1000", "kd1000"), ("10", "kd10"), ("999999", "kd999999")]:
        extensions[number] = Extension(hotline=hotline, number=number, alias=alias, description="'=x")
        extensions[number].set_sip_password("Export-Stream-Pw-2")
        extensions[number].save()
    extensions["999999"].supervisor = extensions["10"]
    extensions["999999"].save()
    extensions["10"].outbound_hotlines.set([world.hotline_a2, hotline])
    extensions["10"].outbound_groups.set([world.group_a])
    monkeypatch.setattr(imports, "EXPORT_BATCH", batch)
    rows = list(imports.export_rows(hotline=hotline))
    assert rows == old_export_rows(hotline)
    assert [row["number"] for row in rows] == ["10", "99", "100", "101", "102", "1000", "999999"]
    with_passwords = list(imports.export_rows(hotline=hotline, with_passwords=True))
    assert [row.pop("password") for row in with_passwords] == [
        Extension.objects.get(hotline=hotline, number=row["number"]).get_sip_password() for row in rows
    ]
    assert with_passwords == rows


# --- flat memory, first chunk early, queries per batch ---------------------------------------------


def test_memory_stays_flat_from_2000_to_20000_extensions(world):
    """The whole hotline in memory (the export before it streamed) took ~10× more for 10× the
    rows; a batch at a time, 20,000 rows peak where 2,000 do."""
    small, big = HotlineFactory(tenant=world.tenant_a), HotlineFactory(tenant=world.tenant_a)
    make_extensions(small, 2_000, group=world.group_a)
    make_extensions(big, 20_000, group=world.group_a)
    peaks = {n: peak_while_streaming(hotline) for n, hotline in ((2_000, small), (20_000, big))}
    assert peaks[20_000] < 1.5 * peaks[2_000], peaks


def test_the_first_chunk_leaves_after_one_batch_and_each_batch_costs_three_queries(world):
    hotline = HotlineFactory(tenant=world.tenant_a)
    count = 5_000
    make_extensions(hotline, count, group=world.group_a)
    batches = math.ceil(count / imports.EXPORT_BATCH)
    assert count % imports.EXPORT_BATCH and batches > 1  # a short last batch ends it
    with CaptureQueriesContext(connection) as ctx:
        chunks = imports.iter_export_csv(imports.export_rows(hotline=hotline))
        first = next(chunks)
        before_first = len(ctx.captured_queries)
        text = first + "".join(chunks)
    # The rows of the first batch (with their supervisors' numbers), their caller-ID hotlines
    # and their number groups; then the same for each next batch. No query per row.
    assert before_first == 3
    assert len(ctx.captured_queries) == 3 * batches
    assert first.count("\r\n") < text.count("\r\n") == count + 1


def test_with_passwords_each_batch_costs_the_same_queries(world, monkeypatch):
    hotline = HotlineFactory(tenant=world.tenant_a)
    make_extensions(hotline, 50)
    monkeypatch.setattr(imports, "EXPORT_BATCH", 20)  # 20, 20, 10
    with CaptureQueriesContext(connection) as ctx:
        rows = imports.export_rows_with_passwords(hotline=hotline, user=world.admin_a)
        before = len(ctx.captured_queries)
        assert len(list(rows)) == 50
    # Per batch: the three reads, the audit INSERT of its 20 rows, and (inside this test's
    # transaction) the savepoint around it and its release.
    assert len(ctx.captured_queries) - before == 3 * 6
    assert AuditEvent.objects.filter(**EXTENSION_ROWS).count() == 50


# --- with passwords: audited batch by batch, committed, also when the stream stops ------------------


@pytest.mark.django_db(transaction=True)
def test_a_client_that_goes_away_mid_stream_leaves_the_audit_of_what_was_sent(world, monkeypatch):
    """Through the API: the first chunk leaves after the first batch was audited and committed
    (seen from another connection) with the request's IP and user agent, though the response
    streams after the request's middleware returned; closing the response (the client went
    away) reads, audits and decrypts nothing more, and leaves no transaction open."""
    hotline = HotlineFactory(tenant=world.tenant_a)
    make_extensions(hotline, imports.EXPORT_BATCH + 500)
    decrypted = []
    real = Extension.get_sip_password

    def spy(extension):
        decrypted.append(extension.pk)
        return real(extension)

    monkeypatch.setattr(imports.Extension, "get_sip_password", spy)
    client = api_client(world.admin_a)
    response = client.post(
        f"{EXPORT}?hotline={hotline.pk}", REMOTE_ADDR="10.20.30.40", HTTP_USER_AGENT="Bizfly Export/1.0"
    )
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    assert next(chunks).startswith("\ufeffnumber,".encode())
    response.close()
    assert not connection.in_atomic_block
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT object_type, count(*), count(*) FILTER (WHERE host(ip) = %s AND user_agent = %s) "
                "FROM audit_auditevent WHERE action = %s GROUP BY object_type ORDER BY object_type",
                ["10.20.30.40", "Bizfly Export/1.0", Action.EXPORT],
            )
            committed = cursor.fetchall()
    finally:
        other.close()
    # (object type, records, records with the request's address and user agent)
    assert committed == [
        ("extensions.extension", imports.EXPORT_BATCH, imports.EXPORT_BATCH),
        ("hotlines.hotline", 1, 1),
    ]
    audited = set(AuditEvent.objects.filter(**EXTENSION_ROWS).values_list("object_id", flat=True).iterator())
    assert decrypted and len(decrypted) < imports.EXPORT_BATCH  # the first chunk: 500 rows
    assert {str(pk) for pk in decrypted} <= audited
    # The next request of this worker finds the connection as it should be.
    assert client.get(EXPORT, {"hotline": world.hotline_a.pk}).status_code == 200


def test_an_audit_that_fails_mid_stream_stops_it_before_its_batch_is_decrypted(world, monkeypatch):
    hotline = HotlineFactory(tenant=world.tenant_a)
    make_extensions(hotline, 25)
    monkeypatch.setattr(imports, "EXPORT_BATCH", 10)
    calls = []
    real_audit, real_decrypt = imports.audit_record_each, Extension.get_sip_password

    def audit_once(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the audit insert failed")
        return real_audit(**kwargs)

    decrypted = []

    def spy(extension):
        decrypted.append(extension.pk)
        return real_decrypt(extension)

    monkeypatch.setattr(imports, "audit_record_each", audit_once)
    monkeypatch.setattr(imports.Extension, "get_sip_password", spy)
    rows = imports.export_rows_with_passwords(hotline=hotline, user=world.admin_a)
    sent = []
    with pytest.raises(RuntimeError, match="audit insert failed"):
        for row in rows:
            sent.append(row)
    assert len(sent) == len(decrypted) == 10
    assert AuditEvent.objects.filter(**EXTENSION_ROWS).count() == 10
