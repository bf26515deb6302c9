"""Allowed networks stored before they were kept in canonical form (192.0.2.0/255.255.255.0,
a bare address, upper-case IPv6) are rewritten as Kamailio's ipops reads them
(extensions.validators.canonical_networks); the sip_subscriber triggers carry the change to
Kamailio. Entries that do not parse are left as they are (the next save reports them)."""

from django.core.exceptions import ValidationError
from django.db import migrations

from extensions.validators import canonical_networks, validate_allowed_networks


def canonical(networks):
    try:
        validate_allowed_networks(networks)
    except ValidationError:
        return networks
    return canonical_networks(networks)


def forwards(apps, schema_editor):
    Extension = apps.get_model("extensions", "Extension")
    changed = []
    for extension in Extension.objects.exclude(allowed_networks=[]).only("id", "allowed_networks").iterator():
        networks = extension.allowed_networks
        if isinstance(networks, list) and networks and (fixed := canonical(networks)) != networks:
            extension.allowed_networks = fixed
            changed.append(extension)
    Extension.objects.bulk_update(changed, ["allowed_networks"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("extensions", "0010_merge_0009_controls_0009_provisioninglink")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
