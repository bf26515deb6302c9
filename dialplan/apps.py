from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DialplanConfig(AppConfig):
    """Dial rules (quy tắc quay số): how a dialled number is normalised and classified, read
    by the dashboard's dial check and, through a view, by the SIP server."""

    name = "dialplan"
    verbose_name = _("Dial rules")
