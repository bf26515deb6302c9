"""`manage.py create_api_token USERNAME`: print an API token for the Authorization header."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tenants.selectors import api_token_for, membership_for
from tenants.services import api_token_create


class Command(BaseCommand):
    help = (
        "Create and print a new API token for the user, for the header "
        "'Authorization: Token <key>'. Keys are stored hashed, so an existing token cannot "
        "be shown again: a new one replaces it (the old one stops working)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        # The API only shows a tenant's objects; a token of a user with no tenant would only
        # ever get 403.
        if membership_for(user) is None:
            raise CommandError(f"{username!r} is not an admin or agent of any tenant.")
        if api_token_for(user=user) is not None:
            self.stderr.write(f"{username} had an API token; it is replaced and stops working now.")
        self.stdout.write(api_token_create(user=user, replace=True).key)
