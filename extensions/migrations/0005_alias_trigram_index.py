"""A trigram index for the extension search on PostgreSQL; nothing on other databases.

The list page and the API search aliases with `icontains`, which Django sends to PostgreSQL as
`UPPER("alias"::text) LIKE UPPER('%…%')`. A btree cannot serve a pattern with a leading
wildcard; a GIN index of pg_trgm trigrams on that same expression can, so a search stays an
index lookup as a hotline grows (see docs/performance.md, "Scale"). SQLite (`make run`) has no
pg_trgm and does not need it at demo sizes, so there the operations do nothing.
"""

from django.db import migrations

INDEX = "extension_alias_upper_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f'CREATE INDEX IF NOT EXISTS {INDEX} ON extensions_extension '
        f'USING gin ((UPPER("alias"::text)) gin_trgm_ops)'
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):

    dependencies = [
        ("extensions", "0004_importjob"),
    ]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
    ]
