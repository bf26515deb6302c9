from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SipConfig(AppConfig):
    """The SIP server's side of the database: what Kamailio reads and writes."""

    name = "sip"
    verbose_name = _("SIP server")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, pre_migrate

        from extensions.signals import extensions_deleted, extensions_disabled

        from . import receivers, schema

        extensions_disabled.connect(receivers.drop_registrations, dispatch_uid="sip-drop-disabled")
        extensions_deleted.connect(receivers.drop_registrations, dispatch_uid="sip-drop-deleted")

        # SQLite cannot rebuild a table that a view refers to, so its views live only between
        # two migrate runs (see sip/schema.py).
        pre_migrate.connect(schema.drop_views_before_migrate, sender=self)
        post_migrate.connect(schema.create_views_after_migrate, sender=self)
