"""Tenant isolation over every route of the project, generated from the URL configuration.

Every URL pattern (dashboard and API) is found by walking the resolver, its URL arguments
are filled with tenant A's objects, and then:

- tenant B's admin gets 404 (or 403) for each of them, with every method the route accepts,
  and routes without arguments show B nothing of A;
- A's agent gets 403 on every admin-only route, and 404 (or 403) for extensions not their own;
- anonymous users are sent to sign in (401 on the API);
- A's own admin does *not* get 404, which proves the ids really address objects;
- afterwards A's data is unchanged and nothing of B points at A.

A new route is covered without touching this file. A route with a URL argument that
`URL_ARGUMENTS` does not know FAILS, so nobody forgets to think about who may open it.
"""

import json
from dataclasses import dataclass
from functools import cached_property

import pytest
from django.conf import settings
from django.urls import URLResolver, get_resolver, reverse
from django.utils.regex_helper import normalize

from extensions.models import Extension
from extensions.services import extension_update
from hotlines.models import NumberGroup, NumberGroupMember
from hotlines.services import number_group_update

pytestmark = pytest.mark.django_db

# Routes left out of the matrix, each with the reason (matched on the start of the path).
SKIPPED = {
    "admin/": "Django admin: for platform operators (is_staff), not tenants; Django guards it",
    "i18n/": "the language switch: no data",
    "accounts/login/": "sign-in: public by design",
    "accounts/logout/": "sign-out: no data",
    "accounts/confirm-password/": "re-entering one's own password: no data, and wrong "
    "passwords would count as failed sign-ins (django-axes)",
    "api/schema/": "the OpenAPI document: the same for everyone, no data",
    "api/docs/": "the API documentation page: the same for everyone, no data",
    "healthz": "the health check: whether the database and Redis answer, no tenant data "
    "(tests/test_redis_outage.py, tests/test_database_outage.py)",
    "metrics": "the Prometheus scrape: allowed by client address (loopback, METRICS_ALLOWED_NETWORKS), "
    "not by sign-in; no secrets (monitoring/tests/test_metrics.py)",
}

# Routes anyone may open, because the URL itself is the credential; they are only probed
# with a made-up credential (which must show nothing).
PUBLIC = {
    "extensions:sharelink_open": "a one-time share link: its token (posted) is the credential",
    "extensions:sharelink_legacy": "the old form of share links: refuses every token",
    "extensions:provisioning_config": "a one-time phone-setup link: its token (in the URL) is the credential",
}

# Routes an agent may use (for their own extension only); every other route is admin-only.
AGENT_ROUTES = {
    "home",
    "extensions:my_extension",
    "extensions:extension_detail",
    "extensions:extension_reveal",
    "api:api-root",
    "api:extension-list",
    "api:extension-detail",
    "api:extension-credentials",
    "extensions:provisioning_link_add",
    "api:extension-provisioning-links",
    "extensions:extension_dial_check",
    "api:extension-dial-check",
    # The web phone: the user's own extension, whichever it is (none: 404).
    "sip:phone",
    "sip:phone_credentials",
    # Call history: an agent sees the calls of their own extension (and those it supervises).
    "calls:extension_calls",
    "calls:extension_calls_export",
    # Background exports: an agent's own (a tenant admin's: the tenant's).
    "calls:export_list",
    "calls:export_download",
    "api:callexport-list",
    "api:callexport-detail",
    "api:callexport-download",
    "api:call-list",
    "api:call-detail",
}

# Query strings a route needs to answer at all (e.g. the number a dial check checks).
QUERIES = {
    "api:extension-dial-check": "?number=0912345678",
}

# URL argument → which of the objects fills it, looked up first as (the path segment before
# the argument, argument) — `extensions/<pk>/` is an extension, `share/<token>/` a share link's
# token — then as the argument alone. Add new arguments here.
URL_ARGUMENTS = {
    ("hotlines", "pk"): "hotline",
    ("extensions", "pk"): "extension",
    ("number-groups", "pk"): "group",
    ("share", "token"): "share_token",
    ("provision", "token"): "share_token",  # only ever probed with a made-up token (PUBLIC)
    ("imports", "pk"): "import_job",
    ("audit-events", "pk"): "audit_event",
    ("webhooks", "pk"): "webhook",
    ("schedules", "pk"): "schedule",
    ("calls", "pk"): "call",
    ("exports", "pk"): "call_export",
    ("call-exports", "pk"): "call_export",
    ("security-events", "pk"): "security_event",
    ("sip-locks", "lock_id"): "sip_lock_id",
    "hotline_pk": "hotline",
    "extension_pk": "extension",
    "group_pk": "group",
    "link_pk": "share_link",
}

# What a probing POST/PUT/PATCH sends: plausible values for every form and serializer, with
# tenant A's ids wherever an id goes, so a route that forgot to scope one would take it.
PROBE = {
    "name": "probe-name",
    "alias": "probe",
    "number": "555",
    "description": "probe",
    "call_permission": "international",
    "strategy": "first",
    "enabled": True,
    "password": "Probe-Passw0rd-x",
    "action": "create",
    "version": 1,
}


@dataclass(frozen=True)
class Route:
    name: str
    template: str  # e.g. "/api/v1/extensions/%(pk)s/"
    arguments: tuple[str, ...]
    methods: tuple[str, ...]
    is_api: bool

    def __str__(self) -> str:
        return self.template % {a: f"<{a}>" for a in self.arguments}


def _methods(callback) -> tuple[str, ...]:
    if hasattr(callback, "actions"):  # a DRF viewset route
        return tuple(sorted(callback.actions))
    view = getattr(callback, "view_class", None)
    if view is None:  # a function view: assume a form page
        return ("get", "post")
    return tuple(
        m
        for m in ("get", "post", "put", "patch", "delete")
        if m in view.http_method_names and hasattr(view, m)
    )


def walk(resolver=None, prefix: str = "", namespace: str = ""):
    for pattern in (resolver or get_resolver()).url_patterns:
        regex = prefix + pattern.pattern.regex.pattern
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace]))
            yield from walk(pattern, regex, inner)
            continue
        template, arguments = normalize(regex)[0]
        callback = pattern.callback
        yield Route(
            name=":".join(filter(None, [namespace, pattern.name])),
            template="/" + template,
            arguments=tuple(arguments),
            methods=_methods(callback),
            is_api=hasattr(callback, "cls"),
        )


def skip_reason(route: Route) -> str | None:
    return next((why for start, why in SKIPPED.items() if route.template.startswith("/" + start)), None)


ROUTES = [route for route in walk() if skip_reason(route) is None]
OBJECT_ROUTES = [r for r in ROUTES if r.arguments and r.name not in PUBLIC]
ADMIN_ONLY = [r for r in ROUTES if r.name not in AGENT_ROUTES and r.name not in PUBLIC]
AGENT_OBJECT_ROUTES = [r for r in OBJECT_ROUTES if r.name in AGENT_ROUTES]


class Objects:
    """One tenant's objects, by the names URL_ARGUMENTS uses."""

    def __init__(self, world, extension):
        self.world = world
        self.hotline = world.hotline_a
        self.group = world.group_a
        self.extension = extension

    @cached_property
    def _share(self):
        from extensions.sharing import share_link_create

        return share_link_create(extension=self.extension, user=self.world.admin_a)

    @cached_property
    def import_job(self):
        """A checked, not yet applied CSV import that would change tenant A's extensions."""
        from extensions.imports import import_job_create

        return import_job_create(
            hotline=self.hotline,
            user=self.world.admin_a,
            filename="probe.csv",
            data=f"number,alias,enabled\r\n555,probe-x,true\r\n{self.extension.number},,false\r\n",
        )

    @cached_property
    def audit_event(self):
        from audit.models import AuditEvent

        return AuditEvent.objects.filter(tenant=self.world.tenant_a).latest("id")

    @cached_property
    def webhook(self):
        from webhooks.services import webhook_create, webhook_send_test

        webhook = webhook_create(
            tenant=self.world.tenant_a,
            url="http://127.0.0.1:9/alpha-hook",
            secret="alpha-webhook-secret-x7",
            events=["extension.created"],
        )
        webhook_send_test(endpoint=webhook)  # a delivery for its log to show
        return webhook

    @cached_property
    def call(self):
        from sip.models import Call

        return Call.objects.filter(caller_extension=self.extension).first() or _call_of(
            self.world, self.extension
        )

    @cached_property
    def call_export(self):
        """A finished background export of the extension's calls, asked by tenant A's admin."""
        from sip.call_exports import call_export_create, call_export_run

        _ = self.call  # a call for the file to hold
        job = call_export_create(
            user=self.world.admin_a,
            filters={},
            filename=f"calls-{self.world.hotline_a.number}.csv",
            extension=self.extension,
        )
        call_export_run(job.pk)  # what the worker does
        return job

    @cached_property
    def schedule(self):
        from hotlines.services import schedule_create

        return schedule_create(
            tenant=self.world.tenant_a,
            name="alpha-schedule-x7",
            windows=[{"days": [0], "start": "08:00", "end": "17:00"}],
        )

    @cached_property
    def security_event(self):
        """The SIP server locked the extension after wrong passwords (a row Kamailio writes)."""
        from django.utils import timezone

        from sip.models import SecurityEvent

        return SecurityEvent.objects.create(
            created_at=timezone.now(),
            kind="extension_locked",
            source_ip="203.0.113.7",
            username=self.extension.number,
            domain=self.extension.hotline.sip_domain,
            count=10,
        )

    @property
    def sip_lock_id(self) -> str:
        """The extension's brute-force lock, as the API names it (sip.protection.Lock.id)."""
        _ = self.security_event
        return f"extension:{self.extension.number}@{self.extension.hotline.sip_domain}"

    @property
    def share_link(self):
        return self._share[0]

    @property
    def share_token(self):
        return self._share[1]


def fill(route: Route, objects: Objects) -> str:
    """The route's URL with its arguments filled from `objects`; fails on an unknown one."""
    values = {}
    for argument in route.arguments:
        before = route.template.split(f"%({argument})s")[0].rstrip("/").rsplit("/", 1)[-1]
        kind = URL_ARGUMENTS.get((before, argument)) or URL_ARGUMENTS.get(argument)
        if kind is None:
            pytest.fail(
                f"{route} ({route.name}): this test does not know what the URL "
                f"argument {argument!r} names. Add it to URL_ARGUMENTS in {__file__}."
            )
        value = getattr(objects, kind)
        values[argument] = getattr(value, "pk", value)
    return route.template % values + QUERIES.get(route.name, "")


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def request(client, route: Route, method: str, url: str, world):
    data = {
        **PROBE,
        "hotline": world.hotline_a.pk,
        "supervisor": world.ext_a["100"].pk,
        "hotlines": [world.hotline_a.pk],
        "outbound_hotlines": [world.hotline_a.pk],
        "outbound_groups": [world.group_a.pk],
    }
    if method == "get":
        return client.get(url)
    if route.is_api:
        return client.generic(method.upper(), url, json.dumps(data), content_type="application/json")
    if method == "post":
        return client.post(url, data)
    return client.generic(method.upper(), url)


@pytest.fixture
def marked_world(world):
    """The world with tenant A's data made easy to spot in a page: if one of these strings
    shows up in an answer to someone who may not see it, it leaked."""
    for number, extension in world.ext_a.items():
        extension_update(
            extension=extension, data={"alias": f"alpha-{number}-x7", "description": f"alpha secret {number}"}
        )
    number_group_update(group=world.group_a, name="alpha-group-x7")
    _call_of(world)
    world.ext_a = {n: Extension.objects.get(pk=e.pk) for n, e in world.ext_a.items()}
    world.group_a.refresh_from_db()
    return world


def _call_of(world, extension=None):
    """A call of `extension` (default: 101) of tenant A, as the call-record import writes it."""
    from datetime import timedelta

    from django.utils import timezone

    from sip.choices import CallDirection, Disposition
    from sip.models import Call

    started = timezone.now() - timedelta(minutes=5)
    return Call.objects.create(
        tenant=world.tenant_a,
        hotline=world.hotline_a,
        caller_extension=extension or world.ext_a["101"],
        caller=(extension or world.ext_a["101"]).number,
        callee="0912345678",
        direction=CallDirection.OUTBOUND,
        caller_id=world.hotline_a.number,
        started_at=started,
        answered_at=started + timedelta(seconds=3),
        ended_at=started + timedelta(seconds=63),
        duration=60,
        disposition=Disposition.ANSWERED,
        sip_code=200,
        reason="alpha-call-x7",
        sip_call_id=f"alpha-call-x7-{(extension or world.ext_a['101']).pk}@isolation",
    )


def tenant_a_markers(world) -> list[str]:
    markers = ["alpha-group-x7", "alpha-hook", "alpha-webhook-secret-x7", "alpha-call-x7"]
    for hotline in (world.hotline_a, world.hotline_a2):
        markers += [hotline.number, hotline.sip_domain, hotline.display_number]
    for extension in world.ext_a.values():
        markers += [extension.alias, extension.description, extension.get_sip_password()]
    return markers


def assert_nothing_of(markers: list[str], response, context: str) -> None:
    text = body(response)
    leaked = [m for m in markers if m in text]
    assert not leaked, f"{context}: {leaked} appear in the answer"


def snapshot(world) -> dict:
    """Tenant A's data, and every link from tenant B's objects to tenant A's."""
    a, b = world.tenant_a, world.tenant_b
    return {
        "extensions": list(Extension.objects.filter(hotline__tenant=a).order_by("pk").values()),
        "groups": list(NumberGroup.objects.filter(tenant=a).order_by("pk").values()),
        "members": list(NumberGroupMember.objects.filter(group__tenant=a).order_by("pk").values()),
        "caller_ids": sorted(
            Extension.outbound_hotlines.through.objects.filter(extension__hotline__tenant=a).values_list(
                "pk", "hotline_id"
            )
        ),
        "b_to_a": [
            NumberGroupMember.objects.filter(group__tenant=b, hotline__tenant=a).count(),
            Extension.outbound_hotlines.through.objects.filter(
                extension__hotline__tenant=b, hotline__tenant=a
            ).count(),
            Extension.outbound_groups.through.objects.filter(
                extension__hotline__tenant=b, numbergroup__tenant=a
            ).count(),
            Extension.objects.filter(hotline__tenant=b, supervisor__hotline__tenant=a).count(),
        ],
    }


def test_the_walk_finds_the_dashboard_and_the_api():
    names = {route.name for route in ROUTES}
    assert {
        "extensions:extension_detail",
        "hotlines:numbergroup_edit",
        "tenants:api_token",
        "api:extension-detail",
        "api:extension-credentials",
        "extensions:provisioning_link_add",
        "api:extension-provisioning-links",
        "api:numbergroup-detail",
        "api:hotline-detail",
    } <= names
    assert not [r for r in ROUTES if "format" in r.arguments], "no .json suffix routes"


def test_every_skip_and_allowance_names_a_real_route():
    """A stale entry would quietly stop protecting anything."""
    names = {route.name for route in walk()}
    assert set(AGENT_ROUTES) <= names
    assert set(PUBLIC) <= names
    templates = [route.template for route in walk()]
    assert all(any(t.startswith("/" + s) for t in templates) for s in SKIPPED)


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=str)
def test_other_tenant_gets_404_for_every_object(client, marked_world, route):
    world = marked_world
    url = fill(route, Objects(world, world.ext_a["101"]))
    before = snapshot(world)
    client.force_login(world.admin_b)
    for method in route.methods:
        response = request(client, route, method, url, world)
        assert response.status_code in (403, 404), f"{method.upper()} {url}: {response.status_code}"
        assert_nothing_of(tenant_a_markers(world), response, f"{method.upper()} {url} as tenant B")
    assert snapshot(world) == before


@pytest.mark.parametrize("route", [r for r in ROUTES if not r.arguments], ids=str)
def test_other_tenant_sees_nothing_of_a_on_pages_without_ids(client, marked_world, route):
    """List and create routes: B's own pages, which must not show or take A's objects."""
    world = marked_world
    before = snapshot(world)
    client.force_login(world.admin_b)
    for method in route.methods:
        response = request(client, route, method, route.template, world)
        assert response.status_code < 500
        assert_nothing_of(tenant_a_markers(world), response, f"{method.upper()} {route} as B")
    assert snapshot(world) == before


@pytest.mark.parametrize("route", ADMIN_ONLY, ids=str)
def test_agent_gets_403_on_admin_only_routes(client, marked_world, route):
    world = marked_world
    url = fill(route, Objects(world, world.ext_a["101"]))  # even for their own extension
    before = snapshot(world)
    client.force_login(world.agent_a)
    for method in route.methods:
        response = request(client, route, method, url, world)
        assert response.status_code == 403, f"{method.upper()} {url}: {response.status_code}"
    assert snapshot(world) == before


@pytest.mark.parametrize("route", AGENT_OBJECT_ROUTES, ids=str)
def test_agent_gets_404_for_extensions_not_their_own(client, marked_world, route):
    world = marked_world
    other = world.ext_a["102"]
    url = fill(route, Objects(world, other))
    client.force_login(world.agent_a)
    for method in route.methods:
        response = request(client, route, method, url, world)
        assert response.status_code in (403, 404), f"{method.upper()} {url}: {response.status_code}"
        assert_nothing_of(
            [other.alias, other.description, other.get_sip_password()],
            response,
            f"{method.upper()} {url} as the agent of 101",
        )


@pytest.mark.parametrize("route", [r for r in ROUTES if r.name not in PUBLIC], ids=str)
def test_anonymous_is_sent_to_sign_in(client, marked_world, route):
    world = marked_world
    url = fill(route, Objects(world, world.ext_a["101"]))
    for method in route.methods:
        response = request(client, route, method, url, world)
        if route.is_api:
            assert response.status_code == 401, f"{method.upper()} {url}: {response.status_code}"
        else:
            assert response.status_code == 302, f"{method.upper()} {url}: {response.status_code}"
            assert response.url.startswith(reverse(settings.LOGIN_URL))
        assert_nothing_of(tenant_a_markers(world), response, f"{method.upper()} {url} anonymous")


@pytest.mark.parametrize("route", [r for r in ROUTES if r.name in PUBLIC], ids=str)
def test_public_routes_show_nothing_without_their_credential(client, marked_world, route):
    world = marked_world
    objects = Objects(world, world.ext_a["101"])
    objects.__dict__["_share"] = (None, "made-up-token")
    url = fill(route, objects)
    for method in route.methods:
        response = request(client, route, method, url, world)
        if method == "get" and not route.arguments:
            assert response.status_code == 200  # a page that asks for the credential (share.js)
        else:
            assert 400 <= response.status_code < 500
        assert_nothing_of(tenant_a_markers(world), response, f"{method.upper()} {url}")


@pytest.mark.parametrize("route", [r for r in OBJECT_ROUTES if "get" in r.methods], ids=str)
def test_the_owner_can_open_every_object_route(client, marked_world, route):
    """Without this, a route that answered 404 to everyone would pass the tests above."""
    world = marked_world
    client.force_login(world.admin_a)
    url = fill(route, Objects(world, world.ext_a["101"]))
    response = client.get(url)
    assert response.status_code < 400, f"GET {url}: {response.status_code}"
    shown = [
        world.ext_a["101"].alias,
        world.hotline_a.number,
        world.hotline_a.display_number,
        "alpha-group-x7",
        "alpha-hook",  # a webhook's URL
        "webhook.test",  # an event in a webhook's delivery log
        "alpha-schedule-x7",
        "alpha-call-x7",  # a call's reason (call history, its CSV, the calls API)
        '"number":"101"',  # the hotline's live status (compact JSON)
    ]
    answer = body(response)  # once: a streamed answer can be read only once
    assert any(text in answer for text in shown), f"GET {url} shows no object"
