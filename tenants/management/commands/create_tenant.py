"""`manage.py create_tenant SLUG --name NAME --admin USERNAME [--email EMAIL]`: a tenant
(khách hàng), its first admin user and their membership, in one transaction.

Production makes its tenants with this (seed_demo's accounts exist only with DEBUG on). The
password is asked twice in a terminal, or read from $CREATE_TENANT_PASSWORD (scripts); it is
checked against the password policy and never printed.
"""

import os
import sys
from getpass import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.services import tenant_create

PASSWORD_ENV = "CREATE_TENANT_PASSWORD"
PROMPTS = 3  # tries at typing an acceptable password in a terminal
# tenant_create's error keys → how the command line names them.
ARGUMENTS = {
    "slug": "SLUG",
    "name": "--name",
    "username": "--admin",
    "email": "--email",
    "password": "password",
}


class Command(BaseCommand):
    help = (
        "Create a tenant, its first admin user and their membership. The password is asked "
        f"twice, or read from ${PASSWORD_ENV} (then nothing is asked)."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The tenant's short name, letters, digits and -, e.g. cong-ty-abc.")
        parser.add_argument("--name", required=True, help='The company\'s name, e.g. "Công ty ABC".')
        parser.add_argument(
            "--admin",
            required=True,
            dest="admin_username",
            metavar="USERNAME",
            help="Username of the tenant's first admin: a new user (an existing one is refused).",
        )
        parser.add_argument("--email", default="", help="The admin's e-mail address.")
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help=f"Never ask: the password must be in ${PASSWORD_ENV}.",
        )

    def handle(self, *args, slug, name, admin_username, email, interactive, **options):
        self.stdin = options.get("stdin", sys.stdin)
        password = os.environ.get(PASSWORD_ENV, "")
        if not password:
            if not interactive or not (hasattr(self.stdin, "isatty") and self.stdin.isatty()):
                raise CommandError(
                    f"No password: set {PASSWORD_ENV} in the environment, or run the command in a "
                    "terminal to type it."
                )
            password = self._ask_password(get_user_model()(username=admin_username, email=email))
        try:
            membership = tenant_create(
                slug=slug,
                name=name,
                admin_username=admin_username,
                admin_email=email,
                admin_password=password,
            )
        except ValidationError as exc:
            raise CommandError(self._describe(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Created tenant “{membership.tenant.name}” ({membership.tenant.slug}) and its admin "
                f"{membership.user.get_username()}, who can sign in now."
            )
        )

    def _ask_password(self, user) -> str:
        for _ in range(PROMPTS):
            password = getpass(f"Password for {user.get_username()}: ")
            if not password:
                self.stderr.write("The password may not be blank.")
                continue
            if getpass("Password (again): ") != password:
                self.stderr.write("The two passwords differ.")
                continue
            try:
                validate_password(password, user)
            except ValidationError as exc:
                self.stderr.write("\n".join(exc.messages))
                continue
            return password
        raise CommandError("No acceptable password was given; nothing was created.")

    @staticmethod
    def _describe(exc: ValidationError) -> str:
        lines = ["Nothing was created:"]
        for key, messages in exc.message_dict.items():
            lines += [f"  {ARGUMENTS.get(key, key)}: {message}" for message in messages]
        if "username" in exc.message_dict:
            lines.append("  (to make an existing user a tenant's admin, add a membership in Django admin)")
        return "\n".join(lines)
