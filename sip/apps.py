from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SipConfig(AppConfig):
    """The SIP server's side of the database: what Kamailio reads and writes."""

    name = "sip"
    verbose_name = _("SIP server")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, pre_migrate

        from . import checks, schema, signals  # noqa: F401 — checks and signals register themselves

        # SQLite cannot rebuild a table that a view refers to, so its views live only between
        # two migrate runs (see sip/schema.py).
        pre_migrate.connect(schema.drop_views_before_migrate, sender=self)
        post_migrate.connect(schema.create_views_after_migrate, sender=self)
