"""The client's address (core.net.client_ip): headers are believed only from trusted proxies, and
the sign-in lockout, the audit trail and share links all get the same answer."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AuditEvent
from core.net import client_ip
from extensions.models import ShareLink

PROXY = "127.0.0.1"
ATTACKER = "203.0.113.66"
ADMIN = "198.51.100.7"


def ip_of(trusted: list[str], settings, **meta) -> str | None:
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/")
    request.META.pop("REMOTE_ADDR", None)
    request.META.update(meta)
    return client_ip(request)


def test_without_trusted_proxies_no_header_is_believed(settings):
    assert (
        ip_of([], settings, REMOTE_ADDR="10.1.2.3", HTTP_X_REAL_IP="6.6.6.6", HTTP_X_FORWARDED_FOR="7.7.7.7")
        == "10.1.2.3"
    )


def test_headers_from_a_host_that_is_not_a_trusted_proxy_are_ignored(settings):
    trusted = ["127.0.0.1/32", "10.0.0.0/8"]
    assert ip_of(trusted, settings, REMOTE_ADDR="192.0.2.1", HTTP_X_REAL_IP="6.6.6.6") == "192.0.2.1"
    assert ip_of(trusted, settings, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="6.6.6.6") == "192.0.2.1"


def test_a_trusted_proxy_reports_the_client(settings):
    trusted = ["127.0.0.1/32", "10.0.0.0/8"]
    assert ip_of(trusted, settings, REMOTE_ADDR=PROXY, HTTP_X_REAL_IP=ADMIN) == ADMIN
    # X-Forwarded-For is read from the right: trusted hops are skipped, the first other address
    # is the client, and what the client itself wrote further left is not believed.
    chain = f"6.6.6.6, {ADMIN}, 10.0.0.5"
    assert ip_of(trusted, settings, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=chain) == ADMIN
    # X-Real-IP naming a trusted hop (a load balancer before nginx) hands over to the chain.
    assert (
        ip_of(trusted, settings, REMOTE_ADDR=PROXY, HTTP_X_REAL_IP="10.0.0.5", HTTP_X_FORWARDED_FOR=chain)
        == ADMIN
    )
    # A request from the proxy host itself: every hop is trusted, the answer is REMOTE_ADDR.
    assert ip_of(trusted, settings, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.0.0.5") == PROXY


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_REAL_IP": "not-an-ip"},
        {"HTTP_X_FORWARDED_FOR": "not-an-ip"},
        {"HTTP_X_FORWARDED_FOR": "1.2.3.4, bogus"},  # nothing left of a bogus hop is believed
        {"HTTP_X_REAL_IP": "", "HTTP_X_FORWARDED_FOR": " , "},
        {"HTTP_X_REAL_IP": "1.2.3.4.5", "HTTP_X_FORWARDED_FOR": "2001:db8::zz"},
    ],
)
def test_values_that_are_not_addresses_are_ignored(settings, headers):
    assert ip_of(["127.0.0.1"], settings, REMOTE_ADDR=PROXY, **headers) == PROXY
    assert ip_of([], settings, REMOTE_ADDR="10.1.2.3", **headers) == "10.1.2.3"


def test_one_client_has_one_spelling(settings):
    # A dual-stack socket reports IPv4 clients as IPv4-mapped IPv6; the trust list still matches.
    assert ip_of([], settings, REMOTE_ADDR="::ffff:10.1.2.3") == "10.1.2.3"
    assert ip_of(["127.0.0.1"], settings, REMOTE_ADDR="::ffff:127.0.0.1", HTTP_X_REAL_IP=ADMIN) == ADMIN
    assert ip_of(["::1"], settings, REMOTE_ADDR="::1", HTTP_X_FORWARDED_FOR="[2001:DB8::1]") == "2001:db8::1"
    assert ip_of([], settings, REMOTE_ADDR="fe80::1%eth0") == "fe80::1"
    assert ip_of([], settings) is None
    assert ip_of([], settings, REMOTE_ADDR="unix-socket") is None


def test_the_setting_takes_addresses_and_networks_and_refuses_anything_else(monkeypatch):
    from pbx_admin.settings import env_networks

    monkeypatch.setenv("DJANGO_TRUSTED_PROXIES", " 10.0.0.1, 192.168.0.0/16,::1 ,")
    assert env_networks("DJANGO_TRUSTED_PROXIES") == ["10.0.0.1/32", "192.168.0.0/16", "::1/128"]
    monkeypatch.setenv("DJANGO_TRUSTED_PROXIES", "")
    assert env_networks("DJANGO_TRUSTED_PROXIES") == []
    monkeypatch.setenv("DJANGO_TRUSTED_PROXIES", "10.0.0.1,nginx")
    with pytest.raises(ImproperlyConfigured, match="'nginx' is not an IP address or network"):
        env_networks("DJANGO_TRUSTED_PROXIES")


def sign_in(client, username: str, password: str, **headers):
    return client.post(reverse("login"), {"username": username, "password": password}, **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["HTTP_X_REAL_IP", "HTTP_X_FORWARDED_FOR"])
def test_the_lockout_behind_the_proxy_locks_the_attacker_not_the_admin(client, world, settings, header):
    """Everyone reaches the app through nginx: the lockout must count each client, not nginx."""
    settings.TRUSTED_PROXIES = [PROXY]
    username = world.admin_a.username
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, username, "wrong", REMOTE_ADDR=PROXY, **{header: ATTACKER})
    locked = sign_in(client, username, "pw", REMOTE_ADDR=PROXY, **{header: ATTACKER})
    assert locked.status_code == 429
    assert not locked.wsgi_request.user.is_authenticated
    admin = sign_in(client, username, "pw", REMOTE_ADDR=PROXY, **{header: ADMIN})
    assert admin.status_code == 302
    assert admin.wsgi_request.user == world.admin_a
    failed = AuditEvent.objects.filter(action="login_failed")
    assert set(failed.values_list("ip", flat=True)) == {ATTACKER}


@pytest.mark.django_db
def test_a_client_that_reaches_the_app_directly_cannot_choose_its_recorded_address(client, world):
    ext = world.ext_a["101"]
    client.force_login(world.admin_a)
    client.post(
        reverse("extensions:extension_reveal", kwargs={"pk": ext.pk}),
        REMOTE_ADDR="10.9.8.7",
        HTTP_X_REAL_IP="6.6.6.6",
        HTTP_X_FORWARDED_FOR="7.7.7.7",
    )
    assert AuditEvent.objects.get(action="reveal").ip == "10.9.8.7"


@pytest.mark.django_db
@pytest.mark.parametrize("trusted", [[], [PROXY]])
def test_a_header_that_is_not_an_address_is_not_a_500(client, world, settings, trusted):
    settings.TRUSTED_PROXIES = trusted
    ext = world.ext_a["101"]
    client.force_login(world.admin_a)
    revealed = client.post(
        reverse("extensions:extension_reveal", kwargs={"pk": ext.pk}),
        REMOTE_ADDR=PROXY,
        HTTP_X_REAL_IP="not-an-ip",
    )
    assert revealed.status_code == 200
    assert AuditEvent.objects.get(action="reveal").ip == PROXY
    client.logout()
    failed = sign_in(client, world.admin_a.username, "wrong", REMOTE_ADDR=PROXY, HTTP_X_REAL_IP="not-an-ip")
    assert failed.status_code == 200
    assert AuditEvent.objects.get(action="login_failed").ip == PROXY


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("trusted", "headers", "expected"),
    [
        ([], {"REMOTE_ADDR": "10.9.8.7", "HTTP_X_REAL_IP": "6.6.6.6"}, "10.9.8.7"),
        ([PROXY], {"REMOTE_ADDR": PROXY, "HTTP_X_REAL_IP": ADMIN}, ADMIN),
        ([PROXY], {"REMOTE_ADDR": PROXY, "HTTP_X_REAL_IP": "not-an-ip"}, PROXY),
    ],
)
def test_a_share_link_records_the_same_address(client, world, settings, trusted, headers, expected):
    from extensions.tests.test_sharing import create_link, use

    settings.TRUSTED_PROXIES = trusted
    token = create_link(client, world)
    opened = use(client, token, **headers)
    assert opened.status_code == 200
    assert ShareLink.objects.get().used_ip == expected
    assert AuditEvent.objects.get(action="share_use").ip == expected
