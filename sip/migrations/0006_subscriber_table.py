"""`sip_subscriber` becomes a table on PostgreSQL (see sip/schema.py, "The credentials table").

The view Kamailio's auth_db read was re-planned on every REGISTER (a join over two wide tables);
the table holds the same rows, keyed on (username, domain), kept current by statement triggers
on extensions and hotlines, and is filled here from the current rows. The roles that could read
the view (Kamailio's) can read the table. On SQLite (the demo) `sip_subscriber` stays a view,
recreated after migrate with the table's columns. The Kamailio version row is unchanged (7):
auth_db sees the same columns it reads.
"""

from django.db import migrations, models

from sip import schema


def _readers(schema_editor) -> list[str]:
    return schema.readers_of(schema_editor.connection, schema.SUBSCRIBER_TABLE)


def _grant(schema_editor, readers: list[str]) -> None:
    for role in readers:
        schema_editor.execute(
            f"GRANT SELECT ON {schema.SUBSCRIBER_TABLE} TO {schema_editor.quote_name(role)}"
        )


def view_to_table(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    readers = _readers(schema_editor)
    schema_editor.execute(f"DROP VIEW {schema.SUBSCRIBER_VIEW}")
    for statement in schema.subscriber_table_sql():
        schema_editor.execute(statement)
    _grant(schema_editor, readers)


def table_to_view(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    readers = _readers(schema_editor)
    for statement in schema.drop_subscriber_table_sql():
        schema_editor.execute(statement)
    schema.create_views(schema_editor.connection, (schema.SUBSCRIBER_VIEW,))
    _grant(schema_editor, readers)


class Migration(migrations.Migration):
    dependencies = [
        ("sip", "0005_merge_20261202_1852"),
        ("extensions", "0010_merge_0009_controls_0009_provisioninglink"),
        ("hotlines", "0002_outbound_schedules"),
    ]

    operations = [
        migrations.RunPython(view_to_table, table_to_view, elidable=False),
        # The unmanaged model follows the narrower columns (no database change).
        migrations.RemoveField(model_name="sipaccount", name="call_permission_slug"),
        migrations.RemoveField(model_name="sipaccount", name="alias"),
        migrations.AddField(
            model_name="sipaccount",
            name="allowed_networks",
            field=models.CharField(default="", max_length=1024, verbose_name="allowed networks"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="sipaccount",
            name="max_contacts",
            field=models.IntegerField(default=0, verbose_name="maximum devices"),
            preserve_default=False,
        ),
    ]
