"""What Kamailio finds in the database: versions, and a role that can read no more than it needs."""

import pytest
from django.db import connection

from sip.schema import TABLE_VERSIONS, role_sql


def test_version_table_has_what_kamailio_checks(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name, table_version FROM version")
        assert dict(cursor.fetchall()) == TABLE_VERSIONS
    assert TABLE_VERSIONS["location"] == 9 and TABLE_VERSIONS["sip_subscriber"] == 7
    assert TABLE_VERSIONS["sip_dialplan"] == 2


def test_kamailio_role_reads_only_its_views_and_writes_only_location(kamailio_role, db):
    if connection.vendor != "postgresql":
        pytest.skip("Roles are PostgreSQL's.")

    def can(privilege: str, table: str) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [kamailio_role, table, privilege])
            return cursor.fetchone()[0]

    for table in (
        "version",
        "sip_subscriber",
        "sip_domain",
        "sip_domain_attrs",
        "location",
        "sip_dialplan",
        "sip_caller_id",
        "sip_supervision",
    ):
        assert can("SELECT", table), table
    for privilege in ("INSERT", "UPDATE", "DELETE"):
        assert can(privilege, "location")
        for table in ("acc", "acc_cdrs", "dialog", "dialog_vars"):  # its call records
            assert can(privilege, table), table
        assert not can(privilege, "sip_call")  # the history it feeds is ours
        assert not can(privilege, "version")
        assert not can(privilege, "sip_subscriber")
    # The real tables, with the encrypted passwords, stay out of reach.
    for table in (
        "extensions_extension",
        "hotlines_hotline",
        "auth_user",
        "django_session",
        "dialplan_dialrule",
        "hotlines_numbergroup",
        "sip_call",
    ):
        assert not can("SELECT", table), table


def test_role_sql_refuses_names_that_are_not_plain():
    with pytest.raises(ValueError):
        role_sql('kamailio"; DROP TABLE x; --', database="pbx")
    assert "PASSWORD 'it''s'" in role_sql("kamailio", database="pbx", password="it's")[0]
