"""What happens to extensions that other apps act on, sent once the change has committed.

`extensions` does not know the SIP server or the webhooks; `sip` (sip/apps.py) and `webhooks`
(webhooks/apps.py) subscribe to these. Receivers get `extensions`: the Extension objects, with
`hotline` loaded. Every write goes through `extensions.services.batch`, so a page, the API, a
bulk edit, a range and a CSV import all send them.
"""

from django.dispatch import Signal

# Extensions created (one, a range, a CSV import).
extensions_created = Signal()
# Extensions whose fields changed; also `changes`: {pk: {field: [old, new]}} as audited, without
# the password (a new password is `extensions_password_changed`).
extensions_updated = Signal()
# Extensions given a new SIP password (chosen or generated); never carries the password.
extensions_password_changed = Signal()
# Extensions that were enabled and now are not (edit, bulk edit, CSV, API).
extensions_disabled = Signal()
# Extensions deleted (the objects keep number and hotline; their pk is gone, so `ids` holds it).
extensions_deleted = Signal()
