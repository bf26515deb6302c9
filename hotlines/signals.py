"""What hotlines tell the apps above them.

`hotlines` sits below `extensions`, `dialplan` and `sip` and never imports them; when a hotline
changes, the side effects those apps own (Kamailio's cached SIP domains, for one) are theirs
to perform, so they subscribe here instead.
"""

from django.dispatch import Signal

# Sent by hotlines.services once the transaction that changed hotlines has committed (never
# for a rolled-back change), with `sender=Hotline` and the keyword arguments:
#   hotline_ids: list[int]  the hotlines created, changed, moved or deleted
#   action: str             "create", "update" or "delete" (audit.choices.Action values)
#   moved_from_tenant_id: int | None  the previous tenant when the change moved the hotline
# sip subscribes (sip/signals.py) to make Kamailio re-read the hotline domains.
hotline_changed = Signal()
