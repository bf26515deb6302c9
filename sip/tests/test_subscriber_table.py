"""`sip_subscriber`, the table Kamailio's auth_db reads, kept by database triggers: every write
to extensions and hotlines (services, bulk writes, plain ORM updates, deletes) changes it in the
writing transaction, and Kamailio's lookup is an index scan on (username, domain)."""

import psycopg2
import pytest
from django.db import connection, transaction

from core.services import bulk_update_values
from extensions import csvio
from extensions.imports import import_apply
from extensions.models import Extension
from extensions.services import (
    extension_bulk_regenerate_passwords,
    extension_bulk_update,
    extension_delete,
    extension_range_create,
    extension_rotate_password,
    extension_update,
)
from hotlines.models import Hotline, sip_domain_for
from hotlines.services import hotline_update
from sip.schema import SUBSCRIBER_COLUMNS
from sip.sipclient import SipClient
from tests.factories import HotlineFactory, make_extension

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "Sang-Tao-2025xyz"


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("sip_subscriber is a table kept by triggers on PostgreSQL (a view on SQLite).")


def table(cursor=None) -> dict[int, tuple]:
    """The rows of sip_subscriber by extension id, as Kamailio reads them."""
    sql = f"SELECT {', '.join(SUBSCRIBER_COLUMNS)} FROM sip_subscriber"  # noqa: S608 — constants
    if cursor is not None:
        cursor.execute(sql)
        return {row[0]: row[1:] for row in cursor.fetchall()}
    with connection.cursor() as own:
        return table(own)


def expected() -> dict[int, tuple]:
    """What it must hold, computed from the models: the enabled extensions of enabled
    hotlines (the old view's definition)."""
    return {
        e.pk: (
            e.number,
            e.hotline.sip_domain,
            e.ha1,
            e.ha1b,
            e.call_permission,
            ",".join(e.allowed_networks or []),
            e.max_contacts or 0,
        )
        for e in Extension.objects.filter(enabled=True, hotline__enabled=True).select_related("hotline")
    }


def assert_current() -> None:
    assert table() == expected()


@pytest.fixture
def other_connection():
    """A second session on the same database, as Kamailio's: sees only committed rows."""
    settings = connection.settings_dict
    conn = psycopg2.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
    )
    conn.autocommit = True
    yield conn
    conn.close()


def test_every_change_of_one_extension_is_in_the_table_inside_its_transaction(other_connection):
    hotline = HotlineFactory()
    other = other_connection.cursor()

    with transaction.atomic():
        extension = make_extension(hotline, "100", "sale01")
        assert table()[extension.pk] == expected()[extension.pk]
        assert extension.pk not in table(other)  # not committed yet
    assert table(other)[extension.pk][:2] == ("100", hotline.sip_domain)

    before = table()[extension.pk]
    with transaction.atomic():
        extension = extension_update(extension=extension, data={}, password=NEW_PASSWORD)
        ha1, ha1b = table()[extension.pk][2:4]
        assert (ha1, ha1b) == (extension.ha1, extension.ha1b) != before[2:4]
        assert table(other)[extension.pk] == before
    assert table(other)[extension.pk][2:4] == (ha1, ha1b)

    with transaction.atomic():
        extension, _password = extension_rotate_password(extension=extension)
        assert table()[extension.pk][2:4] == (extension.ha1, extension.ha1b) != (ha1, ha1b)

    with transaction.atomic():
        extension = extension_update(
            extension=extension,
            data={
                "call_permission": 1,
                "allowed_networks": ["192.0.2.0/24", "10.0.0.0/8"],
                "max_contacts": 2,
            },
        )
        assert table()[extension.pk][4:] == (1, "192.0.2.0/24,10.0.0.0/8", 2)
    assert_current()

    with transaction.atomic():
        extension = extension_update(extension=extension, data={"enabled": False})
        assert extension.pk not in table()
        assert extension.pk in table(other)
    assert extension.pk not in table(other)

    extension = extension_update(extension=extension, data={"enabled": True})
    assert_current()
    assert extension.pk in table(other)

    with transaction.atomic():
        extension_delete(extension=extension)
        assert extension.pk not in table()
    assert table() == {} == table(other)


def test_a_rolled_back_write_leaves_the_table_as_it_was():
    hotline = HotlineFactory()
    extension = make_extension(hotline, "100")
    before = table()
    with pytest.raises(RuntimeError), transaction.atomic():
        extension_update(extension=extension, data={"enabled": False})
        make_extension(hotline, "101")
        assert len(table()) == 1
        raise RuntimeError("rolled back")
    assert table() == before


def test_a_disabled_hotline_takes_its_extensions_out_and_back():
    a, b = HotlineFactory(), HotlineFactory()
    for number in ("100", "101", "102"):
        make_extension(a, number)
        make_extension(b, number)
    make_extension(a, "103", enabled=False)

    with transaction.atomic():
        hotline_update(hotline=a, enabled=False)
        assert {row[1] for row in table().values()} == {b.sip_domain}
    assert_current()
    # Edits of its extensions meanwhile stay out of the table, and count once it is back.
    changed = Extension.objects.get(hotline=a, number="100")
    extension_update(extension=changed, data={"call_permission": 1}, password=NEW_PASSWORD)
    extension_update(extension=Extension.objects.get(hotline=a, number="103"), data={"enabled": True})
    assert_current()

    hotline_update(hotline=a, enabled=True)
    assert_current()
    assert len(table()) == 7
    assert table()[changed.pk][4] == 1


def test_a_hotline_domain_change_moves_its_extensions_rows():
    """The services refuse a new number while a hotline has extensions (their digests come
    from it); the table follows whatever is written all the same, e.g. from the shell."""
    a, b = HotlineFactory(), HotlineFactory()
    make_extension(a, "100")
    make_extension(b, "100")
    new_domain = sip_domain_for("19009999")

    Hotline.objects.filter(pk=a.pk).update(number="19009999", sip_domain=new_domain)

    assert_current()
    assert sorted(row[1] for row in table().values()) == sorted([new_domain, b.sip_domain])


def test_renumbering_one_and_many_in_one_statement():
    hotline = HotlineFactory()
    first, second = make_extension(hotline, "100"), make_extension(hotline, "101")

    Extension.objects.filter(pk=first.pk).update(number="105")
    assert table()[first.pk][0] == "105"

    # One UPDATE … FROM (VALUES …) renumbering both (digests follow, as a service would write).
    first.number, second.number = "200", "201"
    for extension in (first, second):
        extension.set_sip_password(NEW_PASSWORD)
    bulk_update_values(Extension, [first, second], ["number", "ha1", "ha1b"])
    assert {pk: row[:3] for pk, row in table().items()} == {
        first.pk: ("200", hotline.sip_domain, first.ha1),
        second.pk: ("201", hotline.sip_domain, second.ha1),
    }
    assert_current()


def test_bulk_writes_of_many_extensions_are_in_the_table_in_their_transaction():
    """The batch writer's paths: bulk_create (range create), UPDATE … FROM (VALUES …) in batches
    of 1,000 (bulk edit, bulk password regeneration), and a bulk delete."""
    hotline, untouched = HotlineFactory(), HotlineFactory()
    make_extension(untouched, "100")

    with transaction.atomic():
        created = extension_range_create(hotline=hotline, first="1000", last="1999", alias_pattern="nv{n}")
        created += extension_range_create(hotline=hotline, first="2000", last="2499", alias_pattern="nv{n}")
        assert len(created) == len(table()) - 1 == 1500
        assert_current()

    extensions = list(Extension.objects.filter(hotline=hotline))
    with transaction.atomic():
        extension_bulk_update(extensions=extensions[:1000], data={"call_permission": 4})
        extension_bulk_update(extensions=extensions[1000:], data={"call_permission": 4})
        assert {row[4] for pk, row in table().items() if pk in {e.pk for e in extensions}} == {4}
        assert_current()

    with transaction.atomic():
        before = {pk: row[2] for pk, row in table().items()}
        extension_bulk_regenerate_passwords(extensions=extensions[:800])
        after = {pk: row[2] for pk, row in table().items()}
        assert sum(before[e.pk] != after[e.pk] for e in extensions) == 800
        assert_current()

    with transaction.atomic():
        extension_bulk_update(extensions=extensions[:1000:2], data={"enabled": False})
        assert len(table()) == 1 + 1000
        assert_current()

    Extension.objects.filter(hotline=hotline).delete()
    assert_current()
    assert len(table()) == 1


def test_a_csv_import_of_thousands_is_in_the_table_in_its_transaction():
    """CSV import writes in batches of 1,000: several bulk_create and UPDATE … FROM (VALUES …)
    statements in one transaction, each keeping the table current."""
    hotline = HotlineFactory()
    rows = "".join(f"{n},nv{n},2,,,,Ca sáng,1\r\n" for n in range(1000, 3500))
    header = ",".join(csvio.COLUMNS) + "\r\n"

    with transaction.atomic():
        assert import_apply(hotline=hotline, data=header + rows).applied
        assert len(table()) == 2500
        assert_current()

    changed = "".join(f"{n},nv{n},3,,,,Ca sáng,{n % 2}\r\n" for n in range(1000, 3500))
    with transaction.atomic():
        assert import_apply(hotline=hotline, data=header + changed).applied
        assert len(table()) == 1250
        assert {row[4] for row in table().values()} == {3}
        assert_current()


def test_an_edit_that_changes_no_credential_rewrites_no_row():
    hotline = HotlineFactory()
    for number in range(100, 110):
        make_extension(hotline, str(number))

    def versions() -> dict[int, str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, xmin::text FROM sip_subscriber")
            return dict(cursor.fetchall())

    before = versions()
    Extension.objects.filter(hotline=hotline).update(description="Ca chiều", max_calls_per_day=50)
    assert versions() == before
    Extension.objects.filter(hotline=hotline, number="105").update(call_permission=1)
    changed = {pk for pk, version in versions().items() if before[pk] != version}
    assert changed == {Extension.objects.get(hotline=hotline, number="105").pk}


def test_a_flush_empties_it():
    """TransactionTestCase and `manage.py flush` TRUNCATE, which fires no DELETE trigger."""
    make_extension(HotlineFactory(), "100")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE extensions_extension CASCADE")
    assert table() == {}


@pytest.mark.sip
def test_kamailios_credentials_query_is_an_index_scan_on_username_and_domain(kamailio, kamailio_role):
    """The query Kamailio really sends (read back from pg_stat_activity), planned over 5,000
    accounts on 20 hotlines with the same numbers: one index scan on (username, domain), not a
    match of the number across every hotline."""
    hotlines = [HotlineFactory() for _ in range(20)]
    template = Extension(hotline=hotlines[0], number="0")
    template.set_sip_password(NEW_PASSWORD)
    Extension.objects.bulk_create(
        Extension(
            hotline=hotline,
            number=str(number),
            alias=f"nv{number}",
            password_encrypted=template.password_encrypted,
            ha1=template.ha1,
            ha1b=template.ha1b,
        )
        for hotline in hotlines
        for number in range(100, 350)
    )
    assert len(table()) == 5000
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sip_subscriber")
    kamailio.reload_domains()
    target = hotlines[7]

    # A wrong password: the credentials lookup is then the last query of that Kamailio worker.
    with SipClient("127.0.0.1", kamailio.config.sip_port) as client:
        response = client.register(username="200", domain=target.sip_domain, password="Wrong-pass-123")
    assert response.status == 403
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE usename = %s AND query ILIKE %s "
            "ORDER BY state_change DESC LIMIT 1",
            [kamailio_role, "%from sip_subscriber%"],
        )
        (query,) = cursor.fetchone()
        assert "username='200'" in query and f"domain='{target.sip_domain}'" in query, query
        cursor.execute(f"EXPLAIN (FORMAT JSON) {query}")
        plan = cursor.fetchone()[0][0]["Plan"]
    assert plan["Node Type"] in ("Index Scan", "Index Only Scan"), plan
    assert plan["Index Name"] == "sip_subscriber_account_idx"
    assert "username" in plan["Index Cond"] and "domain" in plan["Index Cond"], plan
    assert "Plans" not in plan  # no join, nothing else

    # Against Kamailio's stock `subscriber` table holding the same rows (its own schema and
    # indexes, as `make bench-register` builds it): the same lookup does no more work on ours.
    # Timings are noise on a shared machine; the pages a lookup touches are not.
    stock_query = query.replace("from sip_subscriber", "from stock_subscriber")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE stock_subscriber (id SERIAL PRIMARY KEY, username VARCHAR(64) NOT NULL,"
            " domain VARCHAR(64) NOT NULL, password VARCHAR(64) DEFAULT '' NOT NULL,"
            " ha1 VARCHAR(128) NOT NULL, ha1b VARCHAR(128) NOT NULL, call_permission INTEGER NOT NULL,"
            " allowed_networks VARCHAR(1024) NOT NULL, max_contacts INTEGER NOT NULL,"
            " CONSTRAINT stock_subscriber_account_idx UNIQUE (username, domain))"
        )
        cursor.execute("CREATE INDEX stock_subscriber_username_idx ON stock_subscriber (username)")
        cursor.execute(
            "INSERT INTO stock_subscriber (username, domain, ha1, ha1b, call_permission,"
            " allowed_networks, max_contacts) SELECT username, domain, ha1, ha1b, call_permission,"
            " allowed_networks, max_contacts FROM sip_subscriber"
        )
        cursor.execute("ANALYZE stock_subscriber")
        blocks = {}
        for name, sql in (("ours", query), ("stock", stock_query)):
            cursor.execute(sql)  # warm: both served from shared buffers
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) {sql}")
            measured = cursor.fetchone()[0][0]
            assert measured["Plan"]["Actual Rows"] == 1, measured
            plan = measured["Plan"]  # a temporary table's pages are local buffers
            blocks[name] = sum(
                plan[f"{kind} {how} Blocks"] for kind in ("Shared", "Local") for how in ("Hit", "Read")
            )
    assert blocks["stock"] > 0 and blocks["ours"] <= blocks["stock"], blocks
