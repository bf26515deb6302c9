"""Locks that survive a Kamailio restart: when an admin lifts a lock the dashboard marks its
security events `released_at`, and Kamailio reloads on start only the locks still running and
not lifted (route[RELOAD_LOCKS] in deploy/kamailio/kamailio.cfg)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sip", "0005_merge_20261202_1852"),
    ]

    operations = [
        migrations.AddField(
            model_name="securityevent",
            name="released_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="lifted at"),
        ),
    ]
