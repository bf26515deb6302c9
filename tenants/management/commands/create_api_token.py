"""`manage.py create_api_token USERNAME`: print an API token for the Authorization header."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tenants.selectors import api_token_for, membership_for
from tenants.services import api_token_create


class Command(BaseCommand):
    help = ("Print the user's API token (create it if needed), for the header "
            "'Authorization: Token <key>'.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--reset", action="store_true",
            help="Replace an existing token with a new one (the old one stops working).",
        )

    def handle(self, *args, username, reset, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        # The API only shows a tenant's objects; a token of a user with no tenant would only
        # ever get 403.
        if membership_for(user) is None:
            raise CommandError(f"{username!r} is not an admin or agent of any tenant.")
        token = None if reset else api_token_for(user=user)
        if token is None:
            token = api_token_create(user=user)
        self.stdout.write(token.key)
