"""The SQL objects Kamailio reads and writes, for PostgreSQL and SQLite.

Kamailio's modules query tables by name, so what they read is exposed under their names:

- `sip_subscriber` (auth_db): the enabled extensions of enabled hotlines, with the digest
  hashes and the call permission; there is no plaintext password to expose. Since migration
  `sip.0004_protection` also where it may register from (`allowed_networks`, comma-separated
  CIDRs) and its device limit (`max_contacts`, 0 = none), loaded in the same query. Since
  migration `sip.0006_subscriber_table`, on PostgreSQL a TABLE keyed on (username, domain),
  kept current by triggers on `extensions_extension` and `hotlines_hotline` in the writing
  transaction (see "The credentials table" below); on SQLite (the demo) still a VIEW.
- `sip_domain` (domain): a VIEW of enabled hotlines' SIP domains.
- `sip_domain_attrs` (domain): an empty table the module reads at every reload.
- `location` (usrloc): registrations, Kamailio 5.6's own schema (version 9).
- `version`: the schema version of each table, checked by every module at start.

and, for call routing (migration `sip.0002_call_routing`):

- `sip_dialplan` (dialplan): a VIEW of the enabled dial rules (`dialplan.DialRule`) in the
  module's columns, the destination class and the permission it needs as `attrs`.
- `sip_caller_id` (sqlops): a VIEW of each extension's caller-ID pool, in order, with the
  strategy that picks from it.
- `sip_supervision` (sqlops): a VIEW of who supervises whom (supervisor → supervised, per domain).

and, for the controls on calls out (migration `sip.0003_outbound_controls`):

- `sip_outbound_controls` (sqlops): a VIEW, per enabled extension, of whether its outbound
  schedule is open *now* (the database's clock, in Vietnam's time) and its call limits.

and, written by Kamailio (migration `sip.0004_protection`, a Django model):

- `sip_security_event` (sqlops INSERT): each brute-force lock and flood (sip.models.SecurityEvent).

and, read by Kamailio for the web phone (migration `sip.0011_web_phone_cutoff`, a Django model):

- `sip_web_phone_cutoff` (sqlops): per extension, the web phone credentials refused before they
  expire (sip.models.WebPhoneCutoff: signed out, unlinked, deactivated).

Tables are created by migration `sip.0001_initial`. The views are created here, because
their life differs per database:

- PostgreSQL: the migration creates them once and they stay (so the grants to Kamailio's role
  stay too). A later migration that must change a column a view uses drops and recreates the
  view around its change (`drop_views` / `create_views`).
- SQLite (the `make run` demo): SQLite cannot rebuild a table that a view refers to, and Django
  rebuilds tables for most field changes, so the views exist only *between* migrate runs:
  dropped on `pre_migrate`, created on `post_migrate`.

SQLite reports a declared type only for plain columns, and some Kamailio modules refuse a
value without one (the domain module wants VARCHAR), so the SQLite views of `sip_subscriber` and
`sip_domain` select plain columns. db_sqlite types an expression column by its first value
(integer or text), which the dialplan and sqlops modules accept, so the call-routing views may
compute columns on SQLite too.
"""

import re

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder

from dialplan.choices import REQUIRED_PERMISSION
from extensions.choices import CallPermission

# Kamailio's dispatcher sets: one per (scope, priority). A provider gateway (every tenant) of
# priority p is in set p, a tenant's in set tenant id × SET_ID_STRIDE + p. Here, not in models,
# so that the benches can import the Kamailio starters without Django's app registry.
SET_ID_STRIDE = 1000

SUBSCRIBER_VIEW = "sip_subscriber"
DOMAIN_VIEW = "sip_domain"
DOMAIN_ATTRS_TABLE = "sip_domain_attrs"
LOCATION_TABLE = "location"
VERSION_TABLE = "version"
DIALPLAN_VIEW = "sip_dialplan"
CALLER_ID_VIEW = "sip_caller_id"
SUPERVISION_VIEW = "sip_supervision"
OUTBOUND_CONTROLS_VIEW = "sip_outbound_controls"
SECURITY_EVENT_TABLE = "sip_security_event"
WEB_PHONE_CUTOFF_TABLE = "sip_web_phone_cutoff"
# Carrier gateways (migration sip.0006_gateways): the dispatcher's list, the sets each hotline's
# calls out try in order, and the hotline numbers calls from a carrier may be for.
DISPATCHER_VIEW = "sip_dispatcher"
GATEWAY_ROUTE_VIEW = "sip_gateway_route"
INBOUND_VIEW = "sip_inbound"
# Written by Kamailio (acc, dialog modules), read by sip.call_records and sip.live.
ACCOUNTING_TABLES = ("acc", "acc_cdrs", "dialog", "dialog_vars")

# What Kamailio 5.6 expects in `version` for each table its modules open.
TABLE_VERSIONS = {
    VERSION_TABLE: 1,
    LOCATION_TABLE: 9,
    SUBSCRIBER_VIEW: 7,
    DOMAIN_VIEW: 2,
    DOMAIN_ATTRS_TABLE: 1,
    DIALPLAN_VIEW: 2,
    # Call records (migration sip.0003): acc, dialog.
    "acc": 5,
    "acc_cdrs": 2,
    "dialog": 7,
    "dialog_vars": 1,
    # Carrier gateways (migration sip.0006): dispatcher.
    DISPATCHER_VIEW: 4,
}

# Views by the migration that introduced them (each migration creates only its own, from the
# definitions below; a view is dropped before the views it depends on do not exist).
REGISTRATION_VIEWS = (SUBSCRIBER_VIEW, DOMAIN_VIEW)
CALL_ROUTING_VIEWS = (DIALPLAN_VIEW, CALLER_ID_VIEW, SUPERVISION_VIEW)
CONTROL_VIEWS = (OUTBOUND_CONTROLS_VIEW,)
GATEWAY_VIEWS = (DISPATCHER_VIEW, GATEWAY_ROUTE_VIEW, INBOUND_VIEW)
VIEW_MIGRATIONS = {
    "0001_initial": REGISTRATION_VIEWS,
    "0002_call_routing": CALL_ROUTING_VIEWS,
    "0003_outbound_controls": CONTROL_VIEWS,
    "0006_gateways": GATEWAY_VIEWS,
}
VIEWS = REGISTRATION_VIEWS + CALL_ROUTING_VIEWS + CONTROL_VIEWS + GATEWAY_VIEWS


def _slug_case(column: str) -> str:
    whens = " ".join(f"WHEN {value} THEN '{CallPermission(value).slug}'" for value in CallPermission.values)
    return f"CASE {column} {whens} END"


def _dial_attrs_case(column: str) -> str:
    """The `attrs` part a destination class adds: `;class=mobile;perm=3;need=mobile`
    (emergency: perm=0, which no call permission is below)."""
    whens = []
    for destination, permission in REQUIRED_PERMISSION.items():
        needs = f";perm={int(permission)};need={permission.slug}" if permission else ";perm=0"
        whens.append(f"WHEN '{destination}' THEN ';class={destination}{needs}'")
    return f"CASE {column} {' '.join(whens)} ELSE '' END"


# The SQL below is built from constants only (table names, CallPermission), never from input.
# ruff: noqa: S608


def _call_routing_sql(vendor: str) -> dict[str, str]:
    """The views of migration 0002: the same SQL on both databases but for PostgreSQL's casts,
    which give Kamailio the column types it expects (int, varchar, never NULL)."""
    pg = vendor == "postgresql"

    def cast(expression: str, sql_type: str) -> str:
        return f"({expression})::{sql_type}" if pg else expression

    attrs = (
        f"'rule=' || r.name || {_dial_attrs_case('r.destination')} || "
        "CASE WHEN r.carrier <> '' THEN ';carrier=' || r.carrier ELSE '' END"
    )
    dialplan = f"""
        CREATE VIEW {DIALPLAN_VIEW} AS
        SELECT {cast("r.id", "integer")} AS id,
               {cast("r.stage", "integer")} AS dpid,
               {cast("r.priority", "integer")} AS pr,
               {cast("1", "integer")} AS match_op,
               {cast("COALESCE(r.pattern, '')", "varchar(200)")} AS match_exp,
               {cast("0", "integer")} AS match_len,
               {cast("CASE WHEN r.replacement <> '' THEN r.pattern ELSE '' END", "varchar(200)")}
                   AS subst_exp,
               {cast("COALESCE(r.replacement, '')", "varchar(64)")} AS repl_exp,
               {cast(attrs, "varchar(255)")} AS attrs
        FROM dialplan_dialrule r
        WHERE r.enabled
    """
    # The pool, in order: the hotlines chosen directly (by number), then the members of the
    # number groups (groups by name, members by position), each hotline once, enabled ones
    # only; an extension with none of those calls out with its own hotline. The strategy is
    # the first group's that has a number in the pool; direct choices alone: round robin.
    caller_id = f"""
        CREATE VIEW {CALLER_ID_VIEW} AS
        WITH chosen AS (
            SELECT o.extension_id AS extension_id, o.hotline_id AS hotline_id, 0 AS source,
                   h.number AS k1, 0 AS k2, 0 AS k3, 0 AS k4, '' AS strategy
            FROM extensions_extension_outbound_hotlines o
            JOIN hotlines_hotline h ON h.id = o.hotline_id
            WHERE h.enabled
            UNION ALL
            SELECT eg.extension_id, m.hotline_id, 1, g.name, g.id, m.position, m.id, g.strategy
            FROM extensions_extension_outbound_groups eg
            JOIN hotlines_numbergroup g ON g.id = eg.numbergroup_id
            JOIN hotlines_numbergroupmember m ON m.group_id = g.id
            JOIN hotlines_hotline h ON h.id = m.hotline_id
            WHERE h.enabled
        ),
        ranked AS (
            SELECT c.*, ROW_NUMBER() OVER (
                PARTITION BY c.extension_id ORDER BY c.source, c.k1, c.k2, c.k3, c.k4) AS rn
            FROM chosen c
        ),
        firsts AS (
            SELECT extension_id, hotline_id, MIN(rn) AS rn
            FROM ranked GROUP BY extension_id, hotline_id
        ),
        strategies AS (
            SELECT extension_id, strategy, ROW_NUMBER() OVER (
                PARTITION BY extension_id ORDER BY rn) AS n
            FROM ranked WHERE source = 1
        ),
        pool AS (
            SELECT f.extension_id, f.hotline_id,
                   ROW_NUMBER() OVER (PARTITION BY f.extension_id ORDER BY f.rn) - 1 AS position,
                   COALESCE(s.strategy, 'round_robin') AS strategy
            FROM firsts f
            LEFT JOIN strategies s ON s.extension_id = f.extension_id AND s.n = 1
            UNION ALL
            SELECT e.id, e.hotline_id, 0, 'first'
            FROM extensions_extension e
            WHERE NOT EXISTS (SELECT 1 FROM firsts f WHERE f.extension_id = e.id)
        )
        SELECT {cast("p.extension_id", "integer")} AS extension_id,
               {cast("p.position", "integer")} AS position,
               {cast("h.number", "varchar(20)")} AS number,
               {cast("h.carrier", "varchar(16)")} AS carrier,
               {cast("p.strategy", "varchar(16)")} AS strategy,
               {cast("h.id", "integer")} AS hotline_id
        FROM pool p
        JOIN hotlines_hotline h ON h.id = p.hotline_id
    """
    supervision = f"""
        CREATE VIEW {SUPERVISION_VIEW} AS
        SELECT {cast("t.id", "integer")} AS id,
               {cast("h.sip_domain", "varchar(255)")} AS domain,
               {cast("s.number", "varchar(64)")} AS supervisor,
               {cast("t.number", "varchar(64)")} AS supervised,
               {cast("s.id", "integer")} AS supervisor_id
        FROM extensions_extension t
        JOIN extensions_extension s ON s.id = t.supervisor_id
        JOIN hotlines_hotline h ON h.id = t.hotline_id
        WHERE t.enabled AND s.enabled AND h.enabled
    """
    return {DIALPLAN_VIEW: dialplan, CALLER_ID_VIEW: caller_id, SUPERVISION_VIEW: supervision}


# Vietnam's local time, as the SIP server's database sees it when a call is made: weekday
# (0 = Monday), minutes since midnight and the date. PostgreSQL knows the zone by name; SQLite
# (the demo) knows none, and Asia/Ho_Chi_Minh is UTC+7 all year (no daylight saving since 1975).
_LOCAL_NOW = {
    "postgresql": """(SELECT (EXTRACT(ISODOW FROM t.ts)::integer - 1) AS weekday,
                 (EXTRACT(HOUR FROM t.ts) * 60 + EXTRACT(MINUTE FROM t.ts))::integer AS minute,
                 t.ts::date AS day
          FROM (SELECT now() AT TIME ZONE 'Asia/Ho_Chi_Minh' AS ts) t)""",
    "sqlite": """(SELECT (CAST(strftime('%w', t.ts) AS INTEGER) + 6) % 7 AS weekday,
                 CAST(strftime('%H', t.ts) AS INTEGER) * 60 + CAST(strftime('%M', t.ts) AS INTEGER)
                     AS minute,
                 date(t.ts) AS day
          FROM (SELECT datetime('now', '+7 hours') AS ts) t)""",
}


def _controls_sql(vendor: str) -> dict[str, str]:
    """The view of migration 0003: per enabled extension, whether its outbound schedule (its
    own, else its hotline's; none: always) is open right now, and its call limits (0: none).
    The same arithmetic as hotlines.schedules.OpenHours: a holiday closes the day, otherwise
    open when a window has today's weekday bit and start <= minute < end."""
    pg = vendor == "postgresql"

    def cast(expression: str, sql_type: str) -> str:
        return f"({expression})::{sql_type}" if pg else expression

    schedule = "COALESCE(e.outbound_schedule_id, h.outbound_schedule_id)"
    days = "w.days::integer" if pg else "w.days"
    open_now = f"""CASE
            WHEN {schedule} IS NULL THEN 1
            WHEN EXISTS (SELECT 1 FROM hotlines_scheduleholiday d
                         WHERE d.schedule_id = {schedule} AND d.date = n.day) THEN 0
            WHEN EXISTS (SELECT 1 FROM hotlines_schedulewindow w
                         WHERE w.schedule_id = {schedule}
                           AND (({days} >> n.weekday) & 1) = 1
                           AND w.start_minute <= n.minute AND n.minute < w.end_minute) THEN 1
            ELSE 0 END"""
    controls = f"""
        CREATE VIEW {OUTBOUND_CONTROLS_VIEW} AS
        SELECT {cast("e.id", "integer")} AS extension_id,
               {cast(f"COALESCE({schedule}, 0)", "integer")} AS schedule_id,
               {cast(open_now, "integer")} AS open,
               {cast("COALESCE(e.max_calls_per_minute, 0)", "integer")} AS max_calls_per_minute,
               {cast("COALESCE(e.max_calls_per_day, 0)", "integer")} AS max_calls_per_day,
               {cast("COALESCE(e.max_call_seconds, 0)", "integer")} AS max_call_seconds
        FROM extensions_extension e
        JOIN hotlines_hotline h ON h.id = e.hotline_id
        CROSS JOIN {_LOCAL_NOW[vendor]} n
        WHERE e.enabled AND h.enabled
    """
    return {OUTBOUND_CONTROLS_VIEW: controls}


def _gateway_sql(vendor: str) -> dict[str, str]:
    """The views of migration 0006 (carrier gateways, sip.models.Gateway):

    - `sip_dispatcher`: the enabled gateways in the dispatcher module's table shape (version 4).
      One set per scope and priority (`Gateway.set_id`); `attrs` carry the relative weight
      (`rweight`, algorithm 11 shares a set's calls by it among its live gateways), the caller-ID
      format the carrier wants (`cid`) and the gateway's id (`gw`).
    - `sip_gateway_route`: for each enabled hotline's domain, the sets its calls out try, in
      `position` order: the tenant's own by priority, then the provider's by priority.
    - `sip_inbound`: the enabled hotlines' numbers without the national 0 (`number`: 19001234,
      2473001234, 912345678), their domain and tenant, for calls from a carrier (the dialled
      number starts with the hotline number, the extension number follows)."""
    pg = vendor == "postgresql"

    def cast(expression: str, sql_type: str) -> str:
        return f"({expression})::{sql_type}" if pg else expression

    def text(expression: str) -> str:
        return f"({expression})::text" if pg else expression

    set_id = f"(COALESCE(g.tenant_id, 0) * {SET_ID_STRIDE} + g.priority)"
    attrs = f"'rweight=' || {text('g.weight')} || ';cid=' || g.caller_id_format || ';gw=' || {text('g.id')}"
    position = f"MIN(CASE WHEN g.tenant_id IS NULL THEN {SET_ID_STRIDE} ELSE 0 END + g.priority)"
    transport = "CASE WHEN g.transport = 'udp' THEN '' ELSE ';transport=' || g.transport END"
    dispatcher = f"""
        CREATE VIEW {DISPATCHER_VIEW} AS
        SELECT {cast("g.id", "integer")} AS id,
               {cast(set_id, "integer")} AS setid,
               {cast(f"'sip:' || g.host || ':' || {text('g.port')} || {transport}", "varchar(192)")}
                   AS destination,
               {cast("0", "integer")} AS flags,
               {cast(f"{SET_ID_STRIDE} - g.priority", "integer")} AS priority,
               {cast(attrs, "varchar(128)")} AS attrs,
               {cast("g.name", "varchar(64)")} AS description
        FROM sip_gateway g
        WHERE g.enabled
    """
    route = f"""
        CREATE VIEW {GATEWAY_ROUTE_VIEW} AS
        SELECT {cast("h.sip_domain", "varchar(255)")} AS domain,
               {cast(set_id, "integer")} AS setid,
               {cast(position, "integer")} AS position
        FROM hotlines_hotline h
        JOIN sip_gateway g ON g.tenant_id = h.tenant_id OR g.tenant_id IS NULL
        WHERE h.enabled AND g.enabled
        GROUP BY h.sip_domain, {set_id}
    """
    inbound = f"""
        CREATE VIEW {INBOUND_VIEW} AS
        SELECT {
        cast(
            "CASE WHEN substr(h.number, 1, 1) = '0' THEN substr(h.number, 2) ELSE h.number END", "varchar(20)"
        )
    } AS number,
               {cast("h.sip_domain", "varchar(255)")} AS domain,
               {cast("h.tenant_id", "integer")} AS tenant_id
        FROM hotlines_hotline h
        WHERE h.enabled
    """
    return {DISPATCHER_VIEW: dispatcher, GATEWAY_ROUTE_VIEW: route, INBOUND_VIEW: inbound}


def view_sql(vendor: str, names: tuple[str, ...] = VIEWS) -> list[str]:
    """CREATE VIEW statements for the current definition of the named views."""
    statements = {
        **_registration_sql(vendor),
        **_call_routing_sql(vendor),
        **_controls_sql(vendor),
        **_gateway_sql(vendor),
    }
    return [statements[name] for name in names]


def _networks_csv(json_text: str) -> str:
    """An extension's allowed networks (a JSON list of CIDRs, validated) as ipops wants them:
    "10.0.0.0/8,192.0.2.0/24"; '' = anywhere. Plain string functions, the same on both
    databases: the list holds only CIDR strings, so dropping brackets, quotes and spaces is
    exact."""
    text = json_text
    for char in ("[", "]", '"', " "):
        text = f"REPLACE({text}, '{char}', '')"
    return f"COALESCE({text}, '')"


def _registration_sql(vendor: str) -> dict[str, str]:
    """The views of migration 0001."""
    if vendor == "postgresql":
        # Casts give Kamailio the column types its modules expect (varchar, int). The view of
        # migrations 0001-0005, kept so that they still run; 0006 replaces it with a table
        # (subscriber_table_sql).
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
                   e.hotline_id::integer AS hotline_id,
                   ({_networks_csv("e.allowed_networks::text")})::varchar(1024) AS allowed_networks,
                   COALESCE(e.max_contacts, 0)::integer AS max_contacts
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
        # Plain columns keep their declared types (varchar, integer); the two computed ones
        # are untyped, which auth_db accepts (a string, an integer). The demo keeps a view:
        # the same columns as PostgreSQL's table, read live, no triggers to keep current.
        subscriber = f"""
            CREATE VIEW {SUBSCRIBER_VIEW} AS
            SELECT e.id AS id,
                   e.number AS username,
                   h.sip_domain AS domain,
                   e.ha1 AS ha1,
                   e.ha1b AS ha1b,
                   e.call_permission AS call_permission,
                   {_networks_csv("e.allowed_networks")} AS allowed_networks,
                   COALESCE(e.max_contacts, 0) AS max_contacts
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
    return {SUBSCRIBER_VIEW: subscriber, DOMAIN_VIEW: domain}


# --- The credentials table (PostgreSQL, migration sip.0006_subscriber_table) -------------------
#
# Kamailio's db_postgres sends every query as plain text, so PostgreSQL plans the auth_db
# lookup afresh on every REGISTER and INVITE: over the view that was a join of two wide tables
# with nine indexes between them (~100 µs of planning), matching the number across every
# hotline before the domain. The table below holds exactly what kamailio.cfg reads, one row
# per enabled extension of an enabled hotline, with one unique index on (username, domain):
# the lookup plans and runs like Kamailio's stock `subscriber` table.
#
# It is kept current by triggers, not by the services: a write to an extension or a hotline
# changes the table in the same statement, so the change commits (and counts on the next
# REGISTER) with the write, whichever code path made it (services, bulk writes, the admin, a
# shell), and the lower apps need not know about the SIP server (the layers hold). The
# triggers are per statement with transition tables: a bulk write of 10,000 extensions costs
# a few set-based statements, not 10,000 row triggers; only rows whose credentials changed are
# written (an edit of a description costs a comparison). A row that keeps its key (a new
# password, permission, network list or device limit: the usual bulk edit) is updated in place,
# and the table leaves half of each page free (fillfactor 50) so that such an update stays on
# its page without touching the indexes (a HOT update, ~5× cheaper than a delete and an insert
# for 10,000 rows); a row whose key changes (renumbered, moved, enabled or disabled) is deleted
# and inserted. Kamailio's role may only read the table.

SUBSCRIBER_TABLE = SUBSCRIBER_VIEW
# The extension's columns the table depends on (with its hotline's sip_domain and enabled): a
# change of any of them rewrites the extension's row.
SUBSCRIBER_SOURCE_COLUMNS = (
    "number",
    "hotline_id",
    "ha1",
    "ha1b",
    "call_permission",
    "enabled",
    "allowed_networks",
    "max_contacts",
)


SUBSCRIBER_COLUMNS = (
    "id",
    "username",
    "domain",
    "ha1",
    "ha1b",
    "call_permission",
    "allowed_networks",
    "max_contacts",
)
SUBSCRIBER_FUNCTIONS = (
    "sip_subscriber_extension_insert",
    "sip_subscriber_extension_update",
    "sip_subscriber_extension_delete",
    "sip_subscriber_hotline_update",
    "sip_subscriber_truncate",
)


def _subscriber_rows(extensions: str, hotlines: str, *, changed_from: str = "") -> str:
    """INSERT of the table's rows from `extensions` e JOIN `hotlines` h (tables or transition
    tables), enabled ones only; with `changed_from` (an OLD transition table `o` and the
    changed test) only the rows it says changed."""
    changed = f"JOIN {changed_from}" if changed_from else ""
    return f"""
        INSERT INTO {SUBSCRIBER_TABLE} ({", ".join(SUBSCRIBER_COLUMNS)})
        SELECT e.id, e.number, h.sip_domain, e.ha1, e.ha1b, e.call_permission,
               {_networks_csv("e.allowed_networks::text")}, COALESCE(e.max_contacts, 0)
        FROM {extensions} e JOIN {hotlines} h ON h.id = e.hotline_id {changed}
        WHERE e.enabled AND h.enabled"""


def _changed(new: str, old: str, columns: tuple[str, ...]) -> str:
    """SQL: the row `new` differs from `old` in one of `columns` (NULL-safe)."""
    return (
        f"({', '.join(f'{new}.{c}' for c in columns)}) IS DISTINCT FROM "
        f"({', '.join(f'{old}.{c}' for c in columns)})"
    )


def readers_of(connection: BaseDatabaseWrapper, table: str) -> list[str]:
    """PostgreSQL: the roles other than its owner that may SELECT from `table` (Kamailio's), for
    a migration to give them what it creates beside it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT DISTINCT r.rolname
               FROM pg_class c, aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee
               WHERE c.oid = %s::regclass AND a.privilege_type = 'SELECT' AND a.grantee <> c.relowner""",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


def subscriber_table_sql() -> list[str]:
    """PostgreSQL: the `sip_subscriber` table, its triggers, and its rows from the current
    extensions (the migration's backfill). Run where the view was dropped."""
    extension_changed = _changed("n", "o", SUBSCRIBER_SOURCE_COLUMNS)
    hotline_changed = _changed("n", "o", ("sip_domain", "enabled"))
    # An extension that was and stays enabled under the same number and hotline keeps its row
    # (present if its hotline is enabled): updated in place. The others changed leave (a row
    # deleted, if any) and, if enabled now, enter (a row inserted, if its hotline is enabled).
    stays = "n.enabled AND o.enabled AND n.number = o.number AND n.hotline_id = o.hotline_id"
    entering = _subscriber_rows(
        "new_rows",
        "hotlines_hotline",
        changed_from=(
            f"old_rows o ON o.id = e.id AND {_changed('e', 'o', SUBSCRIBER_SOURCE_COLUMNS)} "
            f"AND NOT ({stays.replace('n.', 'e.')})"
        ),
    )
    changed_hotlines = _subscriber_rows(
        "extensions_extension",
        "new_rows",
        changed_from=f"old_rows o ON o.id = h.id AND {_changed('h', 'o', ('sip_domain', 'enabled'))}",
    )
    functions = {
        # New extensions: their rows, if they and their hotline are enabled.
        "sip_subscriber_extension_insert": _subscriber_rows("new_rows", "hotlines_hotline"),
        # Changed extensions: the rows of those whose credentials changed.
        "sip_subscriber_extension_update": f"""
            DELETE FROM {SUBSCRIBER_TABLE} s USING old_rows o JOIN new_rows n ON n.id = o.id
                WHERE s.id = o.id AND {extension_changed} AND NOT ({stays});
            UPDATE {SUBSCRIBER_TABLE} s
                SET ha1 = n.ha1, ha1b = n.ha1b, call_permission = n.call_permission,
                    allowed_networks = {_networks_csv("n.allowed_networks::text")},
                    max_contacts = COALESCE(n.max_contacts, 0)
                FROM old_rows o JOIN new_rows n ON n.id = o.id
                WHERE s.id = n.id AND {extension_changed} AND {stays};
            {entering}""",
        "sip_subscriber_extension_delete": f"""
            DELETE FROM {SUBSCRIBER_TABLE} s USING old_rows o WHERE s.id = o.id""",
        # A hotline's number (hence its SIP domain) changed, or it was enabled or disabled: the
        # rows of its extensions, deleted and inserted.
        "sip_subscriber_hotline_update": f"""
            DELETE FROM {SUBSCRIBER_TABLE} s
                USING extensions_extension e, old_rows o JOIN new_rows n ON n.id = o.id
                WHERE s.id = e.id AND e.hotline_id = n.id AND {hotline_changed};
            {changed_hotlines}""",
        # TRUNCATE fires no DELETE trigger (Django's flush between tests truncates); a hotline
        # cannot be truncated without its extensions. Truncated too, not deleted row by row: a
        # DELETE would leave dead rows and index entries behind at every flush.
        "sip_subscriber_truncate": f"TRUNCATE {SUBSCRIBER_TABLE}",
    }
    both = "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    triggers = (
        ("extensions_extension", "INSERT", "REFERENCING NEW TABLE AS new_rows", "extension_insert"),
        ("extensions_extension", "UPDATE", both, "extension_update"),
        ("extensions_extension", "DELETE", "REFERENCING OLD TABLE AS old_rows", "extension_delete"),
        ("extensions_extension", "TRUNCATE", "", "truncate"),
        ("hotlines_hotline", "UPDATE", both, "hotline_update"),
        ("hotlines_hotline", "TRUNCATE", "", "truncate"),
    )
    return [
        f"""CREATE TABLE {SUBSCRIBER_TABLE} (
            id INTEGER PRIMARY KEY NOT NULL,
            username VARCHAR(64) NOT NULL,
            domain VARCHAR(255) NOT NULL,
            ha1 VARCHAR(64) NOT NULL,
            ha1b VARCHAR(64) NOT NULL,
            call_permission INTEGER NOT NULL,
            allowed_networks VARCHAR(1024) NOT NULL DEFAULT '',
            max_contacts INTEGER NOT NULL DEFAULT 0
        ) WITH (fillfactor = 50)""",
        f"CREATE UNIQUE INDEX {SUBSCRIBER_TABLE}_account_idx ON {SUBSCRIBER_TABLE} (username, domain)",
        *(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n{body};\nRETURN NULL;\nEND $$"
            for name, body in functions.items()
        ),
        *(
            f"CREATE TRIGGER sip_subscriber_{suffix} AFTER {event} ON {table} "
            f"{referencing} FOR EACH STATEMENT EXECUTE FUNCTION sip_subscriber_{suffix}()"
            for table, event, referencing, suffix in triggers
        ),
        _subscriber_rows("extensions_extension", "hotlines_hotline"),
        f"ANALYZE {SUBSCRIBER_TABLE}",
    ]


def drop_subscriber_table_sql() -> list[str]:
    """PostgreSQL: undo subscriber_table_sql (the functions' triggers go with them)."""
    return [
        f"DROP TABLE IF EXISTS {SUBSCRIBER_TABLE}",
        *(f"DROP FUNCTION IF EXISTS {name}() CASCADE" for name in SUBSCRIBER_FUNCTIONS),
    ]


def create_views(connection: BaseDatabaseWrapper, names: tuple[str, ...]) -> None:
    with connection.cursor() as cursor:
        for statement in view_sql(connection.vendor, names):
            cursor.execute(statement)


def drop_views(connection: BaseDatabaseWrapper, names: tuple[str, ...] = VIEWS) -> None:
    with connection.cursor() as cursor:
        for view in names:
            cursor.execute(f"DROP VIEW IF EXISTS {view}")


def _migrated_views(connection: BaseDatabaseWrapper) -> tuple[str, ...]:
    """The views whose migration is applied (so the tables they read exist)."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return ()
    applied = recorder.applied_migrations()
    return tuple(
        view
        for migration, views in VIEW_MIGRATIONS.items()
        if ("sip", migration) in applied
        for view in views
    )


def drop_views_before_migrate(sender, using: str = "default", **kwargs) -> None:
    """pre_migrate: on SQLite, get the views out of the way of table rebuilds."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        drop_views(connection)


def create_views_after_migrate(sender, using: str = "default", **kwargs) -> None:
    """post_migrate: on SQLite, put the views back once every table has its final shape."""
    connection = connections[using]
    if connection.vendor == "sqlite" and (views := _migrated_views(connection)):
        drop_views(connection)
        create_views(connection, views)


def role_sql(role: str, *, database: str, password: str | None = None) -> list[str]:
    """PostgreSQL statements that create (or update) Kamailio's role with only what it needs:
    SELECT on what it reads, write access to `location` and its call records, and INSERT into its
    security events (and SELECT on them, to reload its locks when it starts)."""
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
        # Its writes (registrations, call records, security events) never wait for a
        # synchronous replica: a replica that stops answering would otherwise hold every
        # REGISTER (docs/deployment.md, "Database failover"). Without synchronous replication
        # `local` is the same as the default `on`.
        f"ALTER ROLE {quoted_role} SET synchronous_commit = local",
        f'GRANT CONNECT ON DATABASE "{database}" TO {quoted_role}',
        f"GRANT USAGE ON SCHEMA public TO {quoted_role}",
        f"GRANT SELECT ON {VERSION_TABLE}, {SUBSCRIBER_VIEW}, {DOMAIN_VIEW}, {DOMAIN_ATTRS_TABLE}, "
        f"{DIALPLAN_VIEW}, {CALLER_ID_VIEW}, {SUPERVISION_VIEW}, {OUTBOUND_CONTROLS_VIEW} TO {quoted_role}",
        # Carrier gateways (migration sip.0006).
        f"GRANT SELECT ON {DISPATCHER_VIEW}, {GATEWAY_ROUTE_VIEW}, {INBOUND_VIEW} TO {quoted_role}",
        # Web phone credentials refused before they expire (migration sip.0011).
        f"GRANT SELECT ON {WEB_PHONE_CUTOFF_TABLE} TO {quoted_role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {LOCATION_TABLE} TO {quoted_role}",
        f"GRANT USAGE ON SEQUENCE {LOCATION_TABLE}_id_seq TO {quoted_role}",
        # SELECT too: on start it reloads the locks still running (route[RELOAD_LOCKS]).
        f"GRANT SELECT, INSERT ON {SECURITY_EVENT_TABLE} TO {quoted_role}",
        f"GRANT USAGE ON SEQUENCE {SECURITY_EVENT_TABLE}_id_seq TO {quoted_role}",
        # Call records (migration sip.0003): its accounting rows and the dialogs in progress.
        *(
            statement
            for table in ACCOUNTING_TABLES
            for statement in (
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {quoted_role}",
                f"GRANT USAGE ON SEQUENCE {table}_id_seq TO {quoted_role}",
            )
        ),
    ]
