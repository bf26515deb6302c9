"""`sip_web_phone_cutoff`: the web phone credentials Kamailio refuses before they expire (a
sign-out, an unlinked or deactivated user). Kamailio reads it (route[EPHEMERAL]), so the roles
that read `sip_subscriber` (Kamailio's) may read it too."""

import django.db.models.deletion
from django.db import migrations, models

from sip import schema


def grant_to_kamailio(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for role in schema.readers_of(schema_editor.connection, schema.SUBSCRIBER_TABLE):
        schema_editor.execute(
            f"GRANT SELECT ON {schema.WEB_PHONE_CUTOFF_TABLE} TO {schema_editor.quote_name(role)}"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("extensions", "0010_merge_0009_controls_0009_provisioninglink"),
        ("sip", "0010_merge_20261202_2251"),
    ]

    operations = [
        migrations.CreateModel(
            name="WebPhoneCutoff",
            fields=[
                (
                    "extension",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="extensions.extension",
                    ),
                ),
                ("issued_until", models.BigIntegerField(default=0, verbose_name="latest expiry issued")),
                ("refused_until", models.BigIntegerField(default=0, verbose_name="refused up to expiry")),
            ],
            options={
                "verbose_name": "web phone cut-off",
                "verbose_name_plural": "web phone cut-offs",
                "db_table": "sip_web_phone_cutoff",
            },
        ),
        migrations.RunPython(grant_to_kamailio, migrations.RunPython.noop, elidable=False),
    ]
