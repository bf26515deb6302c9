"""Sign-in backend: Django's ModelBackend, loading the user's membership with the user."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from .selectors import remember_membership


class MembershipModelBackend(ModelBackend):
    """Every signed-in request needs the user and their membership (role, tenant): one query
    for both instead of two."""

    def get_user(self, user_id):
        user_model = get_user_model()
        try:
            user = user_model._default_manager.select_related("membership__tenant").get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        if not self.user_can_authenticate(user):
            return None
        remember_membership(user)
        return user
