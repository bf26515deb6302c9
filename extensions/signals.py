"""What happens to extensions that other apps act on, sent once the change has committed.

`extensions` does not know the SIP server; `sip` subscribes to these (sip/apps.py) and signs the
phones out. Receivers get `extensions`: the Extension objects, with `hotline` loaded.
"""

from django.dispatch import Signal

# Extensions that were enabled and now are not (edit, bulk edit, CSV, API).
extensions_disabled = Signal()
# Extensions deleted (the objects keep number and hotline; their pk is gone).
extensions_deleted = Signal()
