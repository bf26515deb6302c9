"""`manage.py create_tenant`: a tenant, its first admin and their membership, without DEBUG."""

import io
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import CommandError, call_command
from django.db import connection

from audit.choices import Action
from audit.models import AuditEvent
from tenants.choices import Role
from tenants.models import Membership, Tenant
from tests.test_hardening import database_url_of, production_env

PASSWORD = "Tổng-đài-ABC-2026!"
User = get_user_model()


def create(*args: str, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_tenant", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def snapshot() -> tuple[int, int, int]:
    return Tenant.objects.count(), User.objects.count(), Membership.objects.count()


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def password_env(monkeypatch):
    monkeypatch.setenv("CREATE_TENANT_PASSWORD", PASSWORD)


@pytest.mark.django_db
def test_creates_the_tenant_its_admin_and_the_membership(password_env):
    out, err = create("cong-ty-abc", "--name", "Công ty ABC", "--admin", "abc-admin", "--email", "it@abc.vn")
    tenant = Tenant.objects.get(slug="cong-ty-abc")
    assert tenant.name == "Công ty ABC"
    user = User.objects.get(username="abc-admin")
    assert user.email == "it@abc.vn" and user.check_password(PASSWORD)
    assert not user.is_staff and not user.is_superuser  # a tenant admin, not a platform operator
    assert user.membership.tenant == tenant and user.membership.role == Role.ADMIN
    assert "Created tenant “Công ty ABC” (cong-ty-abc) and its admin abc-admin" in out
    event = AuditEvent.objects.get(action=Action.CREATE, object_type="tenants.tenant")
    assert event.tenant_id == tenant.pk and event.changes["admin"] == [None, "abc-admin"]
    # The password is nowhere: not printed, not in the audit trail.
    stored = f"{out}{err}{event.changes}{event.object_repr}"
    assert PASSWORD not in stored and "ABC-2026" not in stored


@pytest.mark.django_db
def test_the_new_admin_signs_in_and_manages_the_tenant(password_env, client):
    create("abc", "--name", "Công ty ABC", "--admin", "abc-admin")
    signed_in = client.post("/accounts/login/", {"username": "abc-admin", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert client.get("/hotlines/").status_code == 200  # a tenant admin's page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "existing, args, message",
    [
        ("tenant", ["taken", "--admin", "new-admin"], "SLUG: Tenant with this Slug already exists."),
        ("user", ["new-tenant", "--admin", "taken"], "--admin: A user with that username already exists."),
        (None, ["Not a slug!", "--admin", "new-admin"], "SLUG: Enter a valid “slug”"),
        (None, ["new-tenant", "--admin", "new-admin", "--email", "nope"], "--email: Enter a valid email"),
    ],
)
def test_refusals_name_the_argument_and_create_nothing(password_env, existing, args, message):
    if existing == "tenant":
        Tenant.objects.create(slug="taken", name="Taken")
    elif existing == "user":
        User.objects.create_user(username="taken")
    before = snapshot()
    with pytest.raises(CommandError) as refused:
        create(*args, "--name", "Công ty Mới")
    assert str(refused.value).startswith("Nothing was created:")
    assert message in str(refused.value)
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["12345678901", "password123", "new-admin-1"])
def test_the_password_policy_applies(monkeypatch, password):
    monkeypatch.setenv("CREATE_TENANT_PASSWORD", password)
    before = snapshot()
    with pytest.raises(CommandError) as refused:
        create("new-tenant", "--name", "Công ty Mới", "--admin", "new-admin")
    assert "  password: " in str(refused.value)
    assert password not in str(refused.value)
    assert snapshot() == before


@pytest.mark.django_db
def test_without_the_variable_or_a_terminal_it_asks_for_the_password_to_be_given(monkeypatch):
    monkeypatch.delenv("CREATE_TENANT_PASSWORD", raising=False)
    for options in ({"interactive": False, "stdin": TTY()}, {"stdin": io.StringIO()}):
        with pytest.raises(CommandError, match="set CREATE_TENANT_PASSWORD"):
            create("new-tenant", "--name", "Công ty Mới", "--admin", "new-admin", **options)
    assert not Tenant.objects.filter(slug="new-tenant").exists()


@pytest.mark.django_db
def test_in_a_terminal_the_password_is_asked_twice_until_acceptable(monkeypatch):
    monkeypatch.delenv("CREATE_TENANT_PASSWORD", raising=False)
    # Two that differ; a common one, twice; then an acceptable one, twice.
    answers = iter([PASSWORD, PASSWORD + "x", "password123", "password123", PASSWORD, PASSWORD])
    monkeypatch.setattr("tenants.management.commands.create_tenant.getpass", lambda prompt: next(answers))
    out, err = create("abc", "--name", "Công ty ABC", "--admin", "abc-admin", stdin=TTY())
    assert "differ" in err and "too common" in err
    assert User.objects.get(username="abc-admin").check_password(PASSWORD)
    assert PASSWORD not in out + err


@pytest.mark.django_db
def test_in_a_terminal_three_bad_tries_create_nothing(monkeypatch):
    monkeypatch.delenv("CREATE_TENANT_PASSWORD", raising=False)
    monkeypatch.setattr("tenants.management.commands.create_tenant.getpass", lambda prompt: "")
    with pytest.raises(CommandError, match="nothing was created"):
        create("abc", "--name", "Công ty ABC", "--admin", "abc-admin", stdin=TTY())
    assert not Tenant.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_runs_in_production_without_debug():
    if connection.vendor != "postgresql":
        pytest.skip("the command runs on the test's PostgreSQL database (set DATABASE_URL)")
    # DEBUG off and nothing else set but the database: no DEBUG seeding, no app server settings.
    env = production_env(
        without=tuple(name for name in settings.PRODUCTION_SETTINGS if name != "DATABASE_URL"),
        database_url=database_url_of(connection),
    )
    env["CREATE_TENANT_PASSWORD"] = PASSWORD
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_tenant",
            "abc",
            "--name",
            "Công ty ABC",
            "--admin",
            "abc-admin",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    user = User.objects.get(username="abc-admin")
    assert user.membership.tenant.slug == "abc" and user.membership.role == Role.ADMIN
    # Hashed with production's hasher (the tests' own settings use a faster one).
    assert PBKDF2PasswordHasher().verify(PASSWORD, user.password)
