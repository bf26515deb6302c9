"""Controls on calls out: the `sip_outbound_controls` view (see sip/schema.py), read by
Kamailio's route[OUTBOUND_CONTROLS] on every call out through the carrier. On SQLite it is
created after every migrate run instead, like the others."""

from django.db import migrations

from sip import schema


def create_controls(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema.create_views(connection, schema.CONTROL_VIEWS)


def drop_controls(apps, schema_editor):
    schema.drop_views(schema_editor.connection, schema.CONTROL_VIEWS)


class Migration(migrations.Migration):

    dependencies = [
        ("sip", "0002_call_routing"),
        ("extensions", "0009_controls"),
        ("hotlines", "0002_outbound_schedules"),
    ]

    operations = [migrations.RunPython(create_controls, drop_controls, elidable=False)]
