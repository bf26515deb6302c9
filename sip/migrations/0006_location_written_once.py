"""`location` holds each registration once in a cluster of Kamailio nodes (kamailio.cfg,
WITH_CLUSTER).

Every node keeps every registration in memory (dmq_usrloc) and usrloc writes each change through
to the table, so without this each node would write every row: an INSERT per node for a new
registration (all but the first failing on the unique `ruid`, then retried by usrloc's timer) and
an UPDATE per node for each refresh, the copies overwriting the socket the phone is reachable on.
The node that took the REGISTER writes its socket (`udp:10.0.0.2:5060`); a copy received from
another node has none. Writes without a socket are ignored here, so each row is written by the
node holding the phone. Deletes stay as they are: a node removing an expired copy deletes the row
when the node that wrote it is gone.

A single Kamailio always writes a socket: nothing changes for it.
"""

from django.db import migrations

POSTGRESQL = """
CREATE FUNCTION location_written_by_its_node() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.socket IS NULL OR NEW.socket = '' THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER location_written_by_its_node BEFORE INSERT OR UPDATE ON location
    FOR EACH ROW EXECUTE FUNCTION location_written_by_its_node();
"""
POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS location_written_by_its_node ON location;
DROP FUNCTION IF EXISTS location_written_by_its_node();
"""
SQLITE = [
    """CREATE TRIGGER location_insert_by_its_node BEFORE INSERT ON location
    WHEN NEW.socket IS NULL OR NEW.socket = '' BEGIN SELECT RAISE(IGNORE); END""",
    """CREATE TRIGGER location_update_by_its_node BEFORE UPDATE ON location
    WHEN NEW.socket IS NULL OR NEW.socket = '' BEGIN SELECT RAISE(IGNORE); END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS location_insert_by_its_node",
    "DROP TRIGGER IF EXISTS location_update_by_its_node",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in [POSTGRESQL] if vendor == "postgresql" else SQLITE if vendor == "sqlite" else []:
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in (
        [POSTGRESQL_REVERSE] if vendor == "postgresql" else SQLITE_REVERSE if vendor == "sqlite" else []
    ):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("sip", "0005_merge_20261202_1852")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
