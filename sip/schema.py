"""The SQL objects Kamailio reads and writes, for PostgreSQL and SQLite.

Kamailio's modules query tables by name, so what they read is exposed under their names:

- `sip_subscriber` (auth_db): a VIEW of enabled extensions of enabled hotlines, with the digest
  hashes and the call permission; there is no plaintext password to expose.
- `sip_domain` (domain): a VIEW of enabled hotlines' SIP domains.
- `sip_domain_attrs` (domain): an empty table the module reads at every reload.
- `location` (usrloc): registrations, Kamailio 5.6's own schema (version 9).
- `version`: the schema version of each table, checked by every module at start.

Tables are created by migration `sip.0001_initial`. The views are created here, because
their life differs per database:

- PostgreSQL: the migration creates them once and they stay (so the grants to Kamailio's role
  stay too). A later migration that must change a column a view uses drops and recreates the
  view around its change (`drop_views` / `create_views`).
- SQLite (the `make run` demo): SQLite cannot rebuild a table that a view refers to, and Django
  rebuilds tables for most field changes, so the views exist only *between* migrate runs:
  dropped on `pre_migrate`, created on `post_migrate`.

SQLite reports a declared type only for plain columns, and some Kamailio modules refuse a
value without one (the domain module wants VARCHAR), so the SQLite views select plain columns.
"""

import re

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder

from extensions.choices import CallPermission

SUBSCRIBER_VIEW = "sip_subscriber"
DOMAIN_VIEW = "sip_domain"
DOMAIN_ATTRS_TABLE = "sip_domain_attrs"
LOCATION_TABLE = "location"
VERSION_TABLE = "version"

# What Kamailio 5.6 expects in `version` for each table its modules open.
TABLE_VERSIONS = {
    VERSION_TABLE: 1,
    LOCATION_TABLE: 9,
    SUBSCRIBER_VIEW: 7,
    DOMAIN_VIEW: 2,
    DOMAIN_ATTRS_TABLE: 1,
}

VIEWS = (SUBSCRIBER_VIEW, DOMAIN_VIEW)


def _slug_case(column: str) -> str:
    whens = " ".join(f"WHEN {value} THEN '{CallPermission(value).slug}'" for value in CallPermission.values)
    return f"CASE {column} {whens} END"


# The SQL below is built from constants only (table names, CallPermission), never from input.
# ruff: noqa: S608

def view_sql(vendor: str) -> list[str]:
    """CREATE VIEW statements for the current definition of the views."""
    if vendor == "postgresql":
        # Casts give Kamailio the column types its modules expect (varchar, int).
        subscriber = f"""
            CREATE VIEW {SUBSCRIBER_VIEW} AS
            SELECT e.id::integer AS id,
                   e.number::varchar(64) AS username,
                   h.sip_domain::varchar(255) AS domain,
                   e.ha1::varchar(64) AS ha1,
                   e.ha1b::varchar(64) AS ha1b,
                   e.call_permission::integer AS call_permission,
                   ({_slug_case("e.call_permission")})::varchar(16) AS call_permission_slug,
                   e.alias::varchar(64) AS alias,
                   e.hotline_id::integer AS hotline_id
            FROM extensions_extension e
            JOIN hotlines_hotline h ON h.id = e.hotline_id
            WHERE e.enabled AND h.enabled
        """
        domain = f"""
            CREATE VIEW {DOMAIN_VIEW} AS
            SELECT h.id::integer AS id,
                   h.sip_domain::varchar(255) AS domain,
                   h.sip_domain::varchar(255) AS did,
                   h.created_at::timestamp AS last_modified
            FROM hotlines_hotline h
            WHERE h.enabled
        """
    elif vendor == "sqlite":
        # Plain columns keep their declared types (varchar, integer); the slug is an
        # expression and so untyped, which auth_db accepts as a string.
        subscriber = f"""
            CREATE VIEW {SUBSCRIBER_VIEW} AS
            SELECT e.id AS id,
                   e.number AS username,
                   h.sip_domain AS domain,
                   e.ha1 AS ha1,
                   e.ha1b AS ha1b,
                   e.call_permission AS call_permission,
                   {_slug_case("e.call_permission")} AS call_permission_slug,
                   e.alias AS alias,
                   e.hotline_id AS hotline_id
            FROM extensions_extension e
            JOIN hotlines_hotline h ON h.id = e.hotline_id
            WHERE e.enabled AND h.enabled
        """
        domain = f"""
            CREATE VIEW {DOMAIN_VIEW} AS
            SELECT h.id AS id,
                   h.sip_domain AS domain,
                   h.sip_domain AS did,
                   h.created_at AS last_modified
            FROM hotlines_hotline h
            WHERE h.enabled
        """
    else:
        raise NotImplementedError(f"Kamailio's views are defined for PostgreSQL and SQLite, not {vendor}.")
    return [subscriber, domain]


def create_views(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in view_sql(connection.vendor):
            cursor.execute(statement)


def drop_views(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for view in VIEWS:
            cursor.execute(f"DROP VIEW IF EXISTS {view}")


def _sip_migrated(connection: BaseDatabaseWrapper) -> bool:
    recorder = MigrationRecorder(connection)
    return recorder.has_table() and ("sip", "0001_initial") in recorder.applied_migrations()


def drop_views_before_migrate(sender, using: str = "default", **kwargs) -> None:
    """pre_migrate: on SQLite, get the views out of the way of table rebuilds."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        drop_views(connection)


def create_views_after_migrate(sender, using: str = "default", **kwargs) -> None:
    """post_migrate: on SQLite, put the views back once every table has its final shape."""
    connection = connections[using]
    if connection.vendor == "sqlite" and _sip_migrated(connection):
        drop_views(connection)
        create_views(connection)


def role_sql(role: str, *, database: str, password: str | None = None) -> list[str]:
    """PostgreSQL statements that create (or update) Kamailio's role with only what it needs:
    SELECT on what it reads, and write access to `location` alone."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"Not a plain PostgreSQL role name: {role!r}")
    quoted_role = f'"{role}"'
    login = "LOGIN" + (f" PASSWORD '{password.replace(chr(39), chr(39) * 2)}'" if password else "")
    return [
        f"""DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {quoted_role} {login};
              ELSE
                ALTER ROLE {quoted_role} {login};
              END IF;
            END $$""",
        f'GRANT CONNECT ON DATABASE "{database}" TO {quoted_role}',
        f"GRANT USAGE ON SCHEMA public TO {quoted_role}",
        f"GRANT SELECT ON {VERSION_TABLE}, {SUBSCRIBER_VIEW}, {DOMAIN_VIEW}, {DOMAIN_ATTRS_TABLE} "
        f"TO {quoted_role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {LOCATION_TABLE} TO {quoted_role}",
        f"GRANT USAGE ON SEQUENCE {LOCATION_TABLE}_id_seq TO {quoted_role}",
    ]
