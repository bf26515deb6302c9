"""The SIP side of changes made elsewhere: connected in SipConfig.ready()."""

from .services import sip_registrations_remove_many


def drop_registrations(sender, *, extensions, **kwargs) -> None:
    """A disabled or deleted extension's phones stop showing online and receiving calls now,
    not when their registrations expire."""
    sip_registrations_remove_many(extensions=extensions)
