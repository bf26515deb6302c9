"""Create or update Kamailio's PostgreSQL role with only the grants it needs."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from sip.schema import role_sql


class Command(BaseCommand):
    help = (
        "Create (or update) the PostgreSQL role Kamailio connects as: SELECT on version, "
        "sip_subscriber, sip_domain, sip_domain_attrs, sip_dialplan, sip_caller_id and "
        "sip_supervision; SELECT/INSERT/UPDATE/DELETE on location. "
        "Nothing else: it cannot read extensions_extension (encrypted passwords) or any other table. "
        "Its commits do not wait for a synchronous replica (synchronous_commit = local)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", default="kamailio", help="Role name (default: kamailio).")
        parser.add_argument("--password", help="Set this login password (else the role has none).")
        parser.add_argument(
            "--print",
            action="store_true",
            dest="print_only",
            help="Print the SQL instead of running it (e.g. for a DBA).",
        )

    def handle(self, *args, role: str, password: str | None, print_only: bool, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Database roles exist on PostgreSQL only; SQLite has no grants.")
        try:
            statements = role_sql(role, database=connection.settings_dict["NAME"], password=password)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if print_only:
            self.stdout.write(";\n".join(statements) + ";")
            return
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(
            self.style.SUCCESS(
                f"Role {role} can now read what Kamailio reads and write `location`. Point Kamailio at "
                f"it: KAMAILIO_DB_URL=postgres://{role}:…@host:5432/{connection.settings_dict['NAME']}"
            )
        )
