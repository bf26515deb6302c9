import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pbx_admin.settings")
application = get_wsgi_application()

from core.checks import require_production_settings  # noqa: E402  (needs the settings loaded above)
from sip.turn import require_usable_turn_settings  # noqa: E402

require_production_settings()
require_usable_turn_settings()
