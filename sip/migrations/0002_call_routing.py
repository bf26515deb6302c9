"""Call routing: the views Kamailio reads to route INVITEs (see sip/schema.py).

- `sip_dialplan`: the enabled dial rules for the dialplan module (table version 2);
- `sip_caller_id`: each extension's caller-ID pool and strategy, for sqlops;
- `sip_supervision`: supervisor → supervised extension per domain, for sqlops.

On SQLite they are created after every migrate run instead, like the others.
"""

from django.db import migrations

from sip import schema


def create_call_routing(apps, schema_editor):
    connection = schema_editor.connection
    schema_editor.execute(
        "INSERT INTO version (table_name, table_version) VALUES (%s, %s)",
        [schema.DIALPLAN_VIEW, schema.TABLE_VERSIONS[schema.DIALPLAN_VIEW]],
    )
    if connection.vendor == "postgresql":
        schema.create_views(connection, schema.CALL_ROUTING_VIEWS)


def drop_call_routing(apps, schema_editor):
    schema.drop_views(schema_editor.connection, schema.CALL_ROUTING_VIEWS)
    schema_editor.execute("DELETE FROM version WHERE table_name = %s", [schema.DIALPLAN_VIEW])


class Migration(migrations.Migration):

    dependencies = [
        ("sip", "0001_initial"),
        ("dialplan", "0001_initial"),
        ("extensions", "0003_sharelink"),
        ("hotlines", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_call_routing, drop_call_routing, elidable=False)]
