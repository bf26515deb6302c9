from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    """GET /metrics for Prometheus: the dashboard's requests, and on each scrape the numbers read
    from the database, the task queue and Kamailio's control socket."""

    name = "monitoring"
    verbose_name = _("Monitoring")
