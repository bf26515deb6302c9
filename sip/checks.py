"""`manage.py check --deploy`: the web phone's TURN settings (sip.turn) are usable, so a mistake
shows at deployment rather than as an error on the phone page or calls without audio."""

from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from .turn import require_usable_turn_settings


@register(Tags.security, deploy=True)
def check_turn_settings(app_configs, **kwargs):
    try:
        require_usable_turn_settings()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="pbx.E101")]
    return []
