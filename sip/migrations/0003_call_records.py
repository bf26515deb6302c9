"""Call records: Kamailio's accounting tables and the `Call` model built from them.

Kamailio 5.6's own schemas (acc version 5, acc_cdrs version 2, dialog version 7, dialog_vars
version 1), with the extra columns our cfg fills (`db_extra`, `cdr_extra`: see the CALL RECORDS
block of deploy/kamailio/kamailio.cfg). Times that matter are epoch seconds in text columns
(`$TV(Sn)`), so PostgreSQL and SQLite read them the same way whatever the time zone.

- `acc`: one row per final reply to an INVITE Kamailio relayed (200, 486, 487, 408, …) and per
  refusal Kamailio sent itself (`acc_db_request`);
- `acc_cdrs`: one row per answered call when its dialog ends (BYE or timeout);
- `dialog`, `dialog_vars`: calls in progress (dialog module, db_mode 1), for live status.
"""

import django.db.models.deletion
from django.db import migrations, models

ID = {"postgresql": "SERIAL PRIMARY KEY NOT NULL", "sqlite": "INTEGER PRIMARY KEY NOT NULL"}
DATETIME = {"postgresql": "TIMESTAMP WITHOUT TIME ZONE", "sqlite": "DATETIME_JULIAN"}

TABLES = """
CREATE TABLE acc (
    id {id},
    method VARCHAR(16) DEFAULT '' NOT NULL,
    from_tag VARCHAR(128) DEFAULT '' NOT NULL,
    to_tag VARCHAR(128) DEFAULT '' NOT NULL,
    callid VARCHAR(255) DEFAULT '' NOT NULL,
    sip_code VARCHAR(3) DEFAULT '' NOT NULL,
    sip_reason VARCHAR(128) DEFAULT '' NOT NULL,
    time {datetime} NOT NULL,
    caller VARCHAR(64),
    callee VARCHAR(64),
    domain VARCHAR(255),
    direction VARCHAR(16),
    caller_id VARCHAR(64),
    started VARCHAR(32),
    at VARCHAR(32)
);
CREATE INDEX acc_callid_idx ON acc (callid);
CREATE TABLE acc_cdrs (
    id {id},
    start_time {datetime} DEFAULT '2000-01-01 00:00:00' NOT NULL,
    end_time {datetime} DEFAULT '2000-01-01 00:00:00' NOT NULL,
    duration REAL DEFAULT 0 NOT NULL,
    callid VARCHAR(255),
    ended VARCHAR(32)
);
CREATE INDEX acc_cdrs_start_time_idx ON acc_cdrs (start_time);
CREATE TABLE dialog (
    id {id},
    hash_entry INTEGER NOT NULL,
    hash_id INTEGER NOT NULL,
    callid VARCHAR(255) NOT NULL,
    from_uri VARCHAR(255) NOT NULL,
    from_tag VARCHAR(128) NOT NULL,
    to_uri VARCHAR(255) NOT NULL,
    to_tag VARCHAR(128) NOT NULL,
    caller_cseq VARCHAR(20) NOT NULL,
    callee_cseq VARCHAR(20) NOT NULL,
    caller_route_set VARCHAR(512),
    callee_route_set VARCHAR(512),
    caller_contact VARCHAR(255) NOT NULL,
    callee_contact VARCHAR(255) NOT NULL,
    caller_sock VARCHAR(64) NOT NULL,
    callee_sock VARCHAR(64) NOT NULL,
    state INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    timeout INTEGER DEFAULT 0 NOT NULL,
    sflags INTEGER DEFAULT 0 NOT NULL,
    iflags INTEGER DEFAULT 0 NOT NULL,
    toroute_name VARCHAR(32),
    req_uri VARCHAR(255) NOT NULL,
    xdata VARCHAR(512)
);
CREATE INDEX dialog_hash_idx ON dialog (hash_entry, hash_id);
CREATE TABLE dialog_vars (
    id {id},
    hash_entry INTEGER NOT NULL,
    hash_id INTEGER NOT NULL,
    dialog_key VARCHAR(128) NOT NULL,
    dialog_value VARCHAR(512) NOT NULL
);
CREATE INDEX dialog_vars_hash_idx ON dialog_vars (hash_entry, hash_id)
"""

VERSIONS = {"acc": 5, "acc_cdrs": 2, "dialog": 7, "dialog_vars": 1}


def create_accounting_tables(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in TABLES.format(id=ID[vendor], datetime=DATETIME[vendor]).split(";"):
        schema_editor.execute(statement.strip())
    for table, version in VERSIONS.items():
        schema_editor.execute(
            "INSERT INTO version (table_name, table_version) VALUES (%s, %s)", [table, version]
        )


def drop_accounting_tables(apps, schema_editor):
    for table in VERSIONS:
        schema_editor.execute(f"DROP TABLE IF EXISTS {table}")
        schema_editor.execute("DELETE FROM version WHERE table_name = %s", [table])



class Migration(migrations.Migration):

    dependencies = [
        ('extensions', '0009_provisioninglink'),
        ('hotlines', '0001_initial'),
        ('sip', '0002_call_routing'),
        ('tenants', '0003_tenant_call_retention_days'),
    ]

    operations = [
        migrations.RunPython(create_accounting_tables, drop_accounting_tables, elidable=False),
        migrations.CreateModel(
            name='Call',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('caller', models.CharField(max_length=64, verbose_name='caller')),
                ('callee', models.CharField(max_length=64, verbose_name='callee')),
                ('direction', models.CharField(choices=[('internal', 'Internal'), ('outbound', 'Outbound'), ('inbound', 'Inbound'), ('supervision', 'Supervision')], max_length=16, verbose_name='direction')),
                ('caller_id', models.CharField(blank=True, max_length=32, verbose_name='caller ID')),
                ('started_at', models.DateTimeField(verbose_name='started at')),
                ('answered_at', models.DateTimeField(blank=True, null=True, verbose_name='answered at')),
                ('ended_at', models.DateTimeField(blank=True, null=True, verbose_name='ended at')),
                ('duration', models.PositiveIntegerField(default=0, verbose_name='duration (seconds)')),
                ('disposition', models.CharField(choices=[('answered', 'Answered'), ('busy', 'Busy'), ('no_answer', 'No answer'), ('cancelled', 'Cancelled'), ('refused', 'Refused'), ('failed', 'Failed')], max_length=16, verbose_name='disposition')),
                ('sip_code', models.PositiveSmallIntegerField(default=0, verbose_name='SIP code')),
                ('reason', models.CharField(blank=True, max_length=128, verbose_name='reason')),
                ('sip_call_id', models.CharField(max_length=255, unique=True)),
                ('callee_extension', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='calls_received', to='extensions.extension', verbose_name='callee extension')),
                ('caller_extension', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='calls_made', to='extensions.extension', verbose_name='caller extension')),
                ('hotline', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='calls', to='hotlines.hotline', verbose_name='hotline')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='calls', to='tenants.tenant', verbose_name='tenant')),
            ],
            options={
                'verbose_name': 'call',
                'verbose_name_plural': 'calls',
                'ordering': ['-started_at', '-id'],
                'indexes': [models.Index(fields=['tenant', '-started_at', '-id'], name='call_tenant_started_idx'), models.Index(fields=['hotline', '-started_at', '-id'], name='call_hotline_started_idx'), models.Index(fields=['caller_extension', '-started_at', '-id'], name='call_caller_started_idx'), models.Index(fields=['callee_extension', '-started_at', '-id'], name='call_callee_started_idx')],
            },
        ),
    ]
