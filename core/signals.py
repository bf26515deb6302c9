from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from core.guard import mark_authenticated


@receiver(user_logged_in)
def remember_sign_in_time(sender, request, user, **kwargs):
    """The reveal guard asks for the password again when this is too old."""
    if request is not None and hasattr(request, "session"):
        mark_authenticated(request.session)
