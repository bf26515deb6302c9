"""Webhooks end to end: a real worker process (`run_huey`) delivers to a real HTTP receiver the
test starts; every request is checked against the X-PBX-Signature contract."""

import io
import logging
import time

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audit.models import AuditEvent
from core import crypto
from extensions.choices import CallPermission
from extensions.models import Extension
from tests.api import api_client
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.signing import verify

SECRET = "s3cret-for-the-crm-0123456789"
ALL_EXTENSION_EVENTS = [
    "extension.created",
    "extension.updated",
    "extension.deleted",
    "extension.password_changed",
]


def register(client, url, *, events=ALL_EXTENSION_EVENTS, secret=SECRET, **extra) -> dict:
    response = client.post(
        reverse("api:webhook-list"), {"url": url, "secret": secret, "events": events, **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    assert SECRET not in response.content.decode()
    return response.json()


def assert_signed(request: dict, secret: str = SECRET) -> None:
    header = request["headers"]["X-PBX-Signature"]
    assert header.startswith("t=") and ",v1=" in header
    assert verify(secret, request["body"], header)
    assert not verify("another-secret-of-enough-length", request["body"], header)


def test_extension_changes_from_the_page_and_the_api_reach_the_receiver_signed(
    world, worker, receiver, client
):
    receiver.start()
    admin = api_client(world.admin_a)
    register(admin, receiver.url)
    client.force_login(world.admin_a)

    # Created on the page, changed and given a new password through the API, deleted on the page.
    response = client.post(
        reverse("extensions:extension_add", kwargs={"hotline_pk": world.hotline_a.pk}),
        {
            "number": "150",
            "alias": "crm01",
            "call_permission": CallPermission.MOBILE,
            "enabled": "on",
            "password": "",
        },
    )
    assert response.status_code == 302, response.content
    ext = Extension.objects.get(hotline=world.hotline_a, number="150")
    assert (
        admin.patch(reverse("api:extension-detail", kwargs={"pk": ext.pk}), {"alias": "crm02"}).status_code
        == 200
    )
    assert admin.post(reverse("api:extension-rotate-password", kwargs={"pk": ext.pk})).status_code == 200
    api_created = admin.post(
        reverse("api:extension-list"), {"hotline": world.hotline_a.pk, "number": "151", "alias": "crm03"}
    )
    assert api_created.status_code == 201, api_created.content
    assert client.post(reverse("extensions:extension_delete", kwargs={"pk": ext.pk})).status_code == 302

    wanted = [
        "extension.created",
        "extension.updated",
        "extension.password_changed",
        "extension.created",
        "extension.deleted",
    ]
    events = receiver.wait_for(lambda got: sorted(e["event"] for e in got) == sorted(wanted))
    for request in receiver.requests:
        assert_signed(request)
        assert request["headers"]["Content-Type"] == "application/json"
    by_event: dict[str, list[dict]] = {}
    for event in events:
        by_event.setdefault(event["event"], []).append(event)
        assert event["tenant"] == world.tenant_a.pk
        assert "password" not in str(event["data"]).lower() or event["event"] == "extension.password_changed"
    created_numbers = sorted(e["data"]["number"] for e in by_event["extension.created"])
    assert created_numbers == ["150", "151"]
    (updated,) = by_event["extension.updated"]
    assert updated["data"]["alias"] == "crm02"
    assert updated["data"]["changes"]["alias"] == ["crm01", "crm02"]
    (deleted,) = by_event["extension.deleted"]
    assert deleted["data"]["id"] == ext.pk and deleted["data"]["number"] == "150"
    (changed,) = by_event["extension.password_changed"]
    assert set(changed["data"]) == {
        "id",
        "hotline",
        "number",
        "alias",
        "call_permission",
        "description",
        "enabled",
    }
    plain = ext.get_sip_password() if Extension.objects.filter(pk=ext.pk).exists() else None
    assert plain is None  # deleted; no event carried a password or a digest
    assert not any("ha1" in r["body"].decode() for r in receiver.requests)
    # Tenant B's receiver heard nothing of tenant A (no endpoint of B exists).
    assert WebhookDelivery.objects.exclude(endpoint__tenant=world.tenant_a).count() == 0


def test_a_receiver_that_is_down_gets_the_event_after_it_comes_back(world, worker, receiver):
    admin = api_client(world.admin_a)
    hook = register(admin, receiver.url, events=["extension.created"])
    admin.post(
        reverse("api:extension-list"), {"hotline": world.hotline_a.pk, "number": "160", "alias": "late01"}
    )

    # The receiver is down: attempts fail and are retried (0.5 s, 1 s, 1 s … in the worker).
    deliveries_url = reverse("api:webhook-deliveries", kwargs={"pk": hook["id"]})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        (row,) = admin.get(deliveries_url).json()["results"]
        if row["attempts"] >= 2:
            break
        time.sleep(0.2)
    assert row["attempts"] >= 2 and row["status"] == "pending"
    assert row["last_error"] and row["next_attempt_at"] and row["response_status"] is None

    receiver.start()
    (event,) = receiver.wait_for(lambda got: len(got) == 1)
    assert event["event"] == "extension.created" and event["data"]["number"] == "160"
    assert_signed(receiver.requests[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (row,) = admin.get(deliveries_url).json()["results"]
        if row["status"] == "succeeded":
            break
        time.sleep(0.2)
    assert row["status"] == "succeeded" and row["response_status"] == 200 and row["attempts"] >= 3
    assert row["delivered_at"] and row["last_error"] == ""
    # The page shows the log too.
    from django.test import Client

    page = Client()
    page.force_login(world.admin_a)
    html = page.get(reverse("webhooks:webhook_detail", kwargs={"pk": hook["id"]})).content.decode()
    assert "extension.created" in html and "200" in html


def test_a_disabled_endpoint_gets_nothing_and_an_enabled_one_everything(world, worker, receiver):
    other = type(receiver)()
    receiver.start()
    other.start()
    try:
        admin = api_client(world.admin_a)
        register(admin, receiver.url, events=["extension.created"])
        off = register(admin, other.url, events=["extension.created"])
        response = admin.patch(reverse("api:webhook-detail", kwargs={"pk": off["id"]}), {"enabled": False})
        assert response.status_code == 200 and response.json()["enabled"] is False
        admin.post(
            reverse("api:extension-list"), {"hotline": world.hotline_a.pk, "number": "170", "alias": "on01"}
        )
        receiver.wait_for(lambda got: len(got) == 1)
        time.sleep(1.5)
        assert other.requests == []
        assert WebhookDelivery.objects.filter(endpoint_id=off["id"]).count() == 0
    finally:
        other.stop()


def test_a_slow_endpoint_does_not_slow_the_request(world, worker, receiver):
    receiver.delay = 5  # longer than the request could bear
    receiver.start()
    admin = api_client(world.admin_a)
    register(admin, receiver.url, events=["extension.created", "extension.updated"])
    started = time.perf_counter()
    response = admin.post(
        reverse("api:extension-list"), {"hotline": world.hotline_a.pk, "number": "180", "alias": "slow01"}
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 201
    assert elapsed < 1.5, f"the request took {elapsed:.2f} s"
    # …and the worker did try it (its timeout is 2 s here: the attempt fails and is retried).
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not WebhookDelivery.objects.filter(attempts__gte=1).exists():
        time.sleep(0.2)
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts >= 1 and "timed out" in delivery.last_error.lower()


def test_send_test_from_the_page_and_the_api(world, worker, receiver, client):
    receiver.start()
    admin = api_client(world.admin_a)
    hook = register(admin, receiver.url, events=["call.ended"])
    assert admin.post(reverse("api:webhook-test", kwargs={"pk": hook["id"]})).status_code == 202
    client.force_login(world.admin_a)
    response = client.post(reverse("webhooks:webhook_test", kwargs={"pk": hook["id"]}))
    assert response.status_code == 302
    events = receiver.wait_for(lambda got: len(got) == 2)
    assert {e["event"] for e in events} == {"webhook.test"}
    for request in receiver.requests:
        assert_signed(request)


def test_the_secret_is_never_in_answers_audit_rows_or_logs(world, worker, receiver, client, caplog):
    caplog.set_level(logging.DEBUG)
    receiver.start()
    admin = api_client(world.admin_a)
    hook = register(admin, receiver.url, events=["extension.created"])
    detail = reverse("api:webhook-detail", kwargs={"pk": hook["id"]})
    new_secret = "another-long-secret-0987654321"
    texts = [
        admin.get(reverse("api:webhook-list")).content.decode(),
        admin.get(detail).content.decode(),
        admin.patch(detail, {"secret": new_secret}).content.decode(),
    ]
    client.force_login(world.admin_a)
    texts.append(client.get(reverse("webhooks:webhook_edit", kwargs={"pk": hook["id"]})).content.decode())
    texts.append(client.get(reverse("webhooks:webhook_detail", kwargs={"pk": hook["id"]})).content.decode())
    admin.post(
        reverse("api:extension-list"), {"hotline": world.hotline_a.pk, "number": "190", "alias": "log01"}
    )
    receiver.wait_for(lambda got: len(got) == 1)
    assert_signed(receiver.requests[0], secret=new_secret)
    endpoint = WebhookEndpoint.objects.get()
    assert SECRET not in endpoint.secret_encrypted and new_secret not in endpoint.secret_encrypted
    audit = [
        str(e.changes) + e.object_repr
        for e in AuditEvent.objects.filter(object_type="webhooks.webhookendpoint")
    ]
    assert len(audit) == 2 and "secret" in audit[1]  # the change is recorded, not its value
    texts += audit
    texts.append(caplog.text)
    worker.terminate()
    worker.wait(timeout=10)
    texts.append(worker.log_path.read_text())
    assert "delivered" in texts[-1]  # the worker logged the delivery…
    for text in texts:
        assert SECRET not in text and new_secret not in text  # …never the secret


def test_another_tenants_webhook_is_404_and_changes_are_audited(world, client):
    admin_b = api_client(world.admin_b)
    hook = register(admin_b, "http://127.0.0.1:9/hook")
    admin_a = api_client(world.admin_a)
    for response in (
        admin_a.get(reverse("api:webhook-detail", kwargs={"pk": hook["id"]})),
        admin_a.patch(reverse("api:webhook-detail", kwargs={"pk": hook["id"]}), {"enabled": False}),
        admin_a.get(reverse("api:webhook-deliveries", kwargs={"pk": hook["id"]})),
        admin_a.post(reverse("api:webhook-test", kwargs={"pk": hook["id"]})),
        admin_a.delete(reverse("api:webhook-detail", kwargs={"pk": hook["id"]})),
    ):
        assert response.status_code == 404
    assert admin_a.get(reverse("api:webhook-list")).json()["results"] == []
    client.force_login(world.admin_a)
    for name in ("webhook_detail", "webhook_edit", "webhook_delete"):
        assert client.get(reverse(f"webhooks:{name}", kwargs={"pk": hook["id"]})).status_code == 404
    assert api_client(world.agent_a).get(reverse("api:webhook-list")).status_code == 403
    assert admin_b.delete(reverse("api:webhook-detail", kwargs={"pk": hook["id"]})).status_code == 204
    actions = list(
        AuditEvent.objects.filter(object_type="webhooks.webhookendpoint")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "delete"]


def test_the_page_registers_edits_and_deletes_a_webhook_in_vietnamese(world, client):
    client.force_login(world.admin_a)
    html = client.get(reverse("webhooks:webhook_list")).content.decode()
    assert "Webhook" in html and "Thêm webhook" in html
    response = client.post(
        reverse("webhooks:webhook_add"),
        {"url": "http://127.0.0.1:9/x", "secret": SECRET, "events": ["extension.created"], "enabled": "on"},
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302 and endpoint.get_secret() == SECRET
    response = client.post(
        reverse("webhooks:webhook_edit", kwargs={"pk": endpoint.pk}),
        {"url": "http://127.0.0.1:9/y", "secret": "", "events": ["call.ended"]},
    )
    endpoint.refresh_from_db()
    assert response.status_code == 302 and endpoint.url.endswith("/y") and not endpoint.enabled
    assert endpoint.get_secret() == SECRET  # an empty secret keeps it
    assert client.post(reverse("webhooks:webhook_delete", kwargs={"pk": endpoint.pk})).status_code == 302
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_urls_the_worker_must_not_call_are_refused(world, settings):
    admin = api_client(world.admin_a)
    url = reverse("api:webhook-list")
    body = {"secret": SECRET, "events": ["extension.created"]}
    assert admin.post(url, {**body, "url": "ftp://crm.example.com/x"}).status_code == 400
    assert admin.post(url, {**body, "url": "https://crm.example.com/x", "secret": "short"}).status_code == 400
    assert (
        admin.post(url, {**body, "url": "https://crm.example.com/x", "events": ["nope"]}).status_code == 400
    )
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    for target in (
        "http://127.0.0.1:8000/",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest",
        "http://localhost/",
        "http://[::1]/",
    ):
        response = admin.post(url, {**body, "url": target})
        assert response.status_code == 400 and "url" in response.json(), target
    assert admin.post(url, {**body, "url": "https://crm.example.com/hook"}).status_code == 201
    # A name that resolves to loopback is refused by the worker, at the address it would call.
    from webhooks.outbound import TargetRefused, resolve

    with pytest.raises(TargetRefused):
        resolve("localhost", 9)


@pytest.mark.django_db
def test_rotate_sip_keys_reencrypts_webhook_secrets(world, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SIP_ENCRYPTION_KEYS = [old]
    Extension.objects.all().delete()  # only the webhook's secret is in play here
    register(api_client(world.admin_a), "http://127.0.0.1:9/hook")
    settings.SIP_ENCRYPTION_KEYS = [new, old]
    with pytest.raises(CommandError, match="1 of 1 secrets still need an older key"):
        call_command("rotate_sip_keys", "--check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rotate_sip_keys", stdout=out)
    assert "webhooks.WebhookEndpoint.secret_encrypted: 1 secrets, 1 to re-encrypt." in out.getvalue()
    settings.SIP_ENCRYPTION_KEYS = [new]
    endpoint = WebhookEndpoint.objects.get()
    assert crypto.readable_with_newest(endpoint.secret_encrypted)
    assert endpoint.get_secret() == SECRET


@pytest.mark.django_db
def test_put_keeps_the_secret_when_omitted_as_patch_and_the_page_do(world):
    admin = api_client(world.admin_a)
    hook = register(admin, "http://127.0.0.1:9/hook", events=["extension.created"])
    detail = reverse("api:webhook-detail", kwargs={"pk": hook["id"]})
    endpoint = WebhookEndpoint.objects.get()

    # A whole new representation without `secret`: everything else changes, the secret stays.
    response = admin.put(
        detail,
        {"url": "http://127.0.0.1:9/other", "events": ["call.ended"], "enabled": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["url"].endswith("/other") and response.json()["events"] == ["call.ended"]
    endpoint.refresh_from_db()
    assert endpoint.get_secret() == SECRET and endpoint.enabled is False
    # A blank one is kept too (as the edit page's empty field); a new one replaces it.
    body = {"url": "http://127.0.0.1:9/other", "events": ["call.ended"]}
    assert admin.put(detail, {**body, "secret": ""}, format="json").status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.get_secret() == SECRET
    assert admin.put(detail, {**body, "secret": "a-new-secret-0123456789"}, format="json").status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.get_secret() == "a-new-secret-0123456789"
    updates = AuditEvent.objects.filter(object_type="webhooks.webhookendpoint", action="update")
    secret_changes = ["secret" in e.changes for e in updates.order_by("id")]
    assert secret_changes == [False, True]  # the blank PUT changed nothing, so no row

    # PUT still needs the rest of the representation, and a secret given must be long enough.
    response = admin.put(detail, {"events": ["call.ended"]}, format="json")
    assert response.status_code == 400 and set(response.json()) == {"url"}
    response = admin.put(detail, {**body, "secret": "short"}, format="json")
    assert response.status_code == 400 and set(response.json()) == {"secret"}
    # Registering one still needs a secret.
    response = admin.post(reverse("api:webhook-list"), body, format="json")
    assert response.status_code == 400 and set(response.json()) == {"secret"}


# --- The SSRF guard's addresses, and the deadline of an attempt (webhooks.outbound) ------------

REFUSED_ADDRESSES = [
    # NAT64: the well-known prefix (even to a public IPv4 address: a gateway of this network
    # does the translation) and the local-use one.
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::808:808",
    "64:ff9b:1::a00:1",
    # 6to4 and Teredo.
    "2002:7f00:1::1",
    "2002:808:808::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    # IPv4-mapped, -compatible and -translated forms of this network's addresses.
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::10.0.0.1",
    "::127.0.0.1",
    "::ffff:0:a00:1",
    "::ffff:0:7f00:1",
    # The usual ones.
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "2001:db8::1",
    "0.0.0.0",
    "10.1.2.3",
    "100.64.0.1",
    "127.0.0.1",
    "169.254.169.254",
    "192.168.1.1",
    "224.0.0.1",
    "240.0.0.1",
]
PUBLIC_ADDRESSES = ["8.8.8.8", "::ffff:8.8.8.8", "2001:4860:4860::8888", "2a00:1450:4001:80b::200e"]


def test_the_guard_refuses_every_way_to_this_network_and_lets_public_addresses_through():
    from webhooks.outbound import is_public

    assert [a for a in REFUSED_ADDRESSES if is_public(a)] == []
    assert [a for a in PUBLIC_ADDRESSES if not is_public(a)] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "address", ["64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1", "2002:a00:1::1", "2001::a00:1", "::ffff:0:a00:1"]
)
def test_a_webhook_to_an_ipv6_form_of_a_private_address_is_refused(world, settings, address):
    from webhooks.outbound import TargetRefused, post

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    url = f"http://[{address}]/hook"
    response = api_client(world.admin_a).post(
        reverse("api:webhook-list"), {"url": url, "secret": SECRET, "events": ["call.ended"]}, format="json"
    )
    assert response.status_code == 400 and set(response.json()) == {"url"}
    # The worker refuses it too, before any connection (an endpoint stored earlier).
    with pytest.raises(TargetRefused):
        post(url, b"{}", {})


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https-handshake"])
def test_an_endpoint_that_trickles_its_answer_is_cut_at_the_deadline(settings, tls):
    """Each read gets a byte well within WEBHOOK_TIMEOUT, so only the deadline ends it (the
    status line is whole after 0.85 s, then a header never ends; or, over https, the server's
    handshake never ends)."""
    from concurrent.futures import ThreadPoolExecutor

    from webhooks.outbound import post

    from .receiver import Trickler

    # (Python bounds a whole TLS handshake by the socket's timeout: a longer one here, so that
    # the deadline is what ends it.)
    settings.WEBHOOK_TIMEOUT = 5 if tls else 1
    settings.WEBHOOK_DEADLINE = 1.5
    trickler = Trickler(every=0.05, tls=tls)
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        started = time.monotonic()
        attempt = pool.submit(post, trickler.url, b'{"id": 1}', {})
        with pytest.raises(TimeoutError, match=r"no complete answer within 1\.5 s"):
            attempt.result(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        trickler.stop()  # without a deadline, the attempt then ends at its next read's timeout
        pool.shutdown()
    assert trickler.requests == 1
    assert 1.4 <= elapsed < 2.5, elapsed


def test_the_worker_gives_a_trickling_endpoint_its_deadline_and_retries(world, worker):
    from .receiver import Trickler

    trickler = Trickler(every=0.05)
    try:
        admin = api_client(world.admin_a)
        register(admin, trickler.url, events=["extension.created"])
        admin.post(
            reverse("api:extension-list"), {"hotline": world.hotline_a.pk, "number": "195", "alias": "slow02"}
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not WebhookDelivery.objects.filter(attempts__gte=1).exists():
            time.sleep(0.2)
        delivery = WebhookDelivery.objects.get()
        assert delivery.attempts >= 1 and delivery.status == "pending"
        assert "no complete answer within 3 s" in delivery.last_error  # the worker's WEBHOOK_DEADLINE
        # The attempt took its deadline, not the minutes the answer would take: the retry is
        # due one backoff (0.5 s) after the attempt ended.
        assert delivery.next_attempt_at and delivery.last_attempt_at
        took = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds() - 0.5
        assert 2.9 <= took < 4.5, took
    finally:
        trickler.stop()
