"""The API token: the dashboard page (/account/api-token/) and `manage.py create_api_token`."""

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.choices import Action
from audit.models import AuditEvent
from tenants.models import ApiToken
from tenants.services import api_token_create
from tests.api import api_client

pytestmark = pytest.mark.django_db

URL = reverse("tenants:api_token")


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    return client


def works(key: str) -> bool:
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(reverse("api:extension-list")).status_code == 200


def test_page_without_a_token(admin_client):
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert "You have no API token." in response.content.decode()


def created_key(response) -> str:
    return response.context["new_key"]


def test_create_shows_the_key_once_and_stores_only_its_hash(admin_client, world):
    response = admin_client.post(URL, {"action": "create"})
    key = created_key(response)
    html = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert key in html
    assert works(key)
    stored = ApiToken.objects.get(user=world.admin_a)
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in repr(list(ApiToken.objects.values()))
    again = admin_client.get(URL).content.decode()
    assert key not in again
    assert "You have an API token" in again


def test_replace_makes_a_new_token_and_the_old_one_stops_working(admin_client, world):
    old = created_key(admin_client.post(URL, {"action": "create"}))
    assert admin_client.post(URL, {"action": "create"}).status_code == 409  # never silently
    assert works(old)
    new = created_key(admin_client.post(URL, {"action": "replace"}))
    assert new != old
    assert works(new) and not works(old)


def test_revoke(admin_client, world):
    key = created_key(admin_client.post(URL, {"action": "create"}))
    response = admin_client.post(URL, {"action": "revoke"})
    assert response.status_code == 302 and response.url == URL
    assert not ApiToken.objects.filter(user=world.admin_a).exists()
    assert not works(key)


def test_creating_and_revoking_are_audited_without_the_key(admin_client, world):
    key = created_key(admin_client.post(URL, {"action": "create"}))
    admin_client.post(URL, {"action": "revoke"})
    admin_client.post(URL, {"action": "revoke"})  # nothing left to revoke: no record
    events = AuditEvent.objects.filter(object_type="auth.user", object_id=str(world.admin_a.pk))
    assert sorted(e.action for e in events) == [Action.TOKEN_CREATE, Action.TOKEN_REVOKE]
    assert all(e.tenant == world.tenant_a and e.actor == world.admin_a for e in events)
    assert not AuditEvent.objects.filter(changes__icontains=key).exists()
    assert key not in str(list(events.values()))


def test_unknown_action_is_400(admin_client, world):
    assert admin_client.post(URL, {"action": "steal"}).status_code == 400
    assert not ApiToken.objects.exists()


def test_only_tenant_admins(client, world):
    assert client.get(URL).status_code == 302  # anonymous: sign in first
    client.force_login(world.agent_a)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"action": "create"}).status_code == 403
    assert not ApiToken.objects.filter(user=world.agent_a).exists()


def test_each_admin_sees_only_their_own_token(client, world):
    key_b = api_token_create(user=world.admin_b).key
    client.force_login(world.admin_a)
    assert key_b not in client.post(URL, {"action": "create"}).content.decode()
    client.post(URL, {"action": "revoke"})
    assert works(key_b)


def run(*args) -> str:
    out = io.StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip()


def test_command_prints_a_working_token_and_a_new_one_replaces_it(world):
    key = run("admin-tenant-a")
    assert works(key)
    new = run("admin-tenant-a")
    assert new != key and works(new) and not works(key)


def test_command_works_for_agents(world):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {run('agent-a')}")
    body = client.get(reverse("api:extension-list")).json()
    assert [item["number"] for item in body["results"]] == ["101"]


@pytest.mark.parametrize("username", ["nobody", "stranger"])
def test_command_refuses_unknown_users_and_users_without_a_tenant(world, django_user_model, username):
    django_user_model.objects.create_user("stranger", password="pw")
    with pytest.raises(CommandError):
        run(username)
    assert not ApiToken.objects.exists()


def test_the_debug_page_of_a_failed_creation_shows_no_key(world, settings, monkeypatch):
    """The key exists in plaintext between its creation and the page that shows it once."""
    from django.test import Client

    from tenants.views import ApiTokenView

    def fail(*args, **kwargs):
        raise RuntimeError("the page broke after the key was made")

    settings.DEBUG = True
    settings.DEBUG_PAGES = True  # Django's technical page, as a developer asks for it
    created = []

    def create_and_keep(**kwargs):
        created.append(api_token_create(**kwargs))
        return created[-1]

    monkeypatch.setattr("tenants.services.api_token_create", create_and_keep)
    monkeypatch.setattr(ApiTokenView, "render", fail)
    client = Client(raise_request_exception=False)
    client.force_login(world.admin_a)
    response = client.post(URL, {"action": "create"})
    page = response.content.decode()
    assert response.status_code == 500 and "Local vars" in page
    assert created and created[0].key not in page
