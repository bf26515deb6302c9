"""What sip does when the apps below it report a change (they never import sip)."""

from django.dispatch import receiver

from hotlines.models import Hotline
from hotlines.signals import hotline_changed

from .services import sip_domains_reload


@receiver(hotline_changed, sender=Hotline, dispatch_uid="sip.reload_domains_on_hotline_change")
def reload_domains_on_hotline_change(sender, hotline_ids: list[int], **kwargs) -> None:
    """Kamailio caches the enabled hotlines' SIP domains: a hotline created, renumbered,
    enabled, disabled, moved or deleted is known to it only after a `domain.reload`. Sent after
    the commit, so Kamailio reads the committed rows."""
    sip_domains_reload()
