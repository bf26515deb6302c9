"""Every page an admin or an agent uses, enumerated from the URL patterns.

`page_targets()` walks the URL resolver and maps each named pattern to a way of opening it in
a browser on the demo data (`seed_demo`): an address with the ids of real objects, or a few
clicks for a page that a form posts to (a reveal, a bulk edit). A pattern that has neither a
mapping here nor a reason to be left out (`EXCLUDED`) fails the tests that use the list, so a
page added later is checked too: give it a line in `PAGES`.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse

# Patterns that are not pages a tenant admin or an agent opens, and why.
EXCLUDED_NAMESPACES = {
    "admin": "Django admin: the platform operator's (superuser) tool, not a tenant's",
    "api": "the REST API: JSON, not pages",
}
EXCLUDED = {
    "healthz": "JSON for load balancers and monitoring",
    "logout": "POST-only: signs out and redirects to the sign-in page",
    "set_language": "POST-only: sets the language cookie and redirects back",
    "api_schema": "the OpenAPI schema (YAML), not a page",
    "api_docs": "Swagger UI, the API's reference for developers: a third-party page",
    "extensions:extension_export": "a CSV download",
    "extensions:import_job_apply": "POST-only: applies an import, then redirects to its page",
    "extensions:import_progress": "JSON polled by the import page",
    "extensions:sharelink_revoke": "POST-only: revokes a link, then redirects to the extension",
    "sip:phone_credentials": "POST-only JSON: the web phone's short-lived credentials",
    "calls:hotline_calls_export": "a CSV download",
    "calls:extension_calls_export": "a CSV download",
    "calls:export_download": "a CSV download (a finished background export)",
    "extensions:extension_lift_limits": "POST-only: clears the call-limit counters, then redirects",
    "calls:hotline_status": "JSON polled by the extension list and the wallboard",
    "audit:sip_unblock": "POST-only: lifts a lock, then redirects to the SIP security page",
    "metrics": "Prometheus text for the monitoring system, not a page",
    "webhooks:webhook_test": "POST-only: queues a test event, then redirects to the endpoint",
}


@dataclass
class Demo:
    """The objects of the demo data that pages are opened for."""

    base: str
    hotline: Any
    extension: Any  # the agent's own, 101
    group: Any
    import_job: Any
    admin: Any
    new_share_token: Callable[[], str]
    new_provisioning_token: Callable[[], str]
    webhook: Any
    schedule: Any  # an outbound schedule, used by the hotline (its delete page refuses)


@dataclass
class Target:
    name: str
    path: str
    # The agent opens only these; every other page answers an agent 403 (checked as a page too).
    agent: bool = False
    # Clicks that lead from `path` to the page (for pages a form posts to); None: `path` itself.
    reach: Callable[[Any, Demo], None] | None = None
    # A page that only a form post reaches (no GET): an agent, who cannot reach it, skips it.
    post_only: bool = False
    status: dict[str, int] = field(default_factory=dict)


def _click(selector: str) -> Callable[[Any, Demo], None]:
    def reach(page, demo: Demo) -> None:
        with page.expect_navigation():
            page.click(selector)

    return reach


def _select_all_then(selector: str) -> Callable[[Any, Demo], None]:
    def reach(page, demo: Demo) -> None:
        page.locator(".js-select-all").check()
        with page.expect_navigation():
            page.click(selector)

    return reach


def _open_share_link(page, demo: Demo) -> None:
    page.goto("about:blank")  # from /share/ itself, a new "#…" would not load the page again
    page.goto(f"{demo.base}{reverse('extensions:sharelink_open')}#{demo.new_share_token()}")
    page.wait_for_selector("#share-open-button")
    with page.expect_navigation():
        page.click("#share-open-button")


# name → (path from the demo objects, options). Keep one line per named pattern.
PAGES: dict[str, tuple[Callable[[Demo], str], dict[str, Any]]] = {
    "home": (lambda d: reverse("home"), {"agent": True}),
    "login": (lambda d: reverse("login"), {"agent": True}),
    "confirm_password": (lambda d: reverse("confirm_password"), {"agent": True}),
    "hotlines:hotline_list": (lambda d: reverse("hotlines:hotline_list"), {}),
    "hotlines:hotline_detail": (lambda d: reverse("hotlines:hotline_detail", args=[d.hotline.pk]), {}),
    "hotlines:numbergroup_list": (lambda d: reverse("hotlines:numbergroup_list"), {}),
    "hotlines:numbergroup_add": (lambda d: reverse("hotlines:numbergroup_add"), {}),
    "hotlines:numbergroup_edit": (lambda d: reverse("hotlines:numbergroup_edit", args=[d.group.pk]), {}),
    "hotlines:numbergroup_delete": (lambda d: reverse("hotlines:numbergroup_delete", args=[d.group.pk]), {}),
    "hotlines:hotline_settings": (lambda d: reverse("hotlines:hotline_settings", args=[d.hotline.pk]), {}),
    "hotlines:schedule_list": (lambda d: reverse("hotlines:schedule_list"), {}),
    "hotlines:schedule_add": (lambda d: reverse("hotlines:schedule_add"), {}),
    "hotlines:schedule_edit": (lambda d: reverse("hotlines:schedule_edit", args=[d.schedule.pk]), {}),
    "hotlines:schedule_delete": (lambda d: reverse("hotlines:schedule_delete", args=[d.schedule.pk]), {}),
    "extensions:extension_list": (lambda d: reverse("extensions:extension_list", args=[d.hotline.pk]), {}),
    "extensions:extension_add": (lambda d: reverse("extensions:extension_add", args=[d.hotline.pk]), {}),
    "extensions:extension_add_range": (
        lambda d: reverse("extensions:extension_add_range", args=[d.hotline.pk]),
        {},
    ),
    "extensions:extension_bulk_edit": (
        lambda d: reverse("extensions:extension_list", args=[d.hotline.pk]),
        {"reach": _select_all_then("button[formaction$='/bulk-edit/']"), "post_only": True},
    ),
    "extensions:extension_bulk_regenerate": (
        lambda d: reverse("extensions:extension_list", args=[d.hotline.pk]),
        {"reach": _select_all_then("button[formaction$='/bulk-regenerate/']"), "post_only": True},
    ),
    "extensions:extension_import": (
        lambda d: reverse("extensions:extension_import", args=[d.hotline.pk]),
        {},
    ),
    "extensions:import_job": (lambda d: reverse("extensions:import_job", args=[d.import_job.pk]), {}),
    "extensions:my_extension": (
        lambda d: reverse("extensions:my_extension"),
        {"agent": True, "status": {"admin": 403}},  # an admin has no extension of their own
    ),
    "extensions:extension_detail": (
        lambda d: reverse("extensions:extension_detail", args=[d.extension.pk]),
        {"agent": True},
    ),
    "extensions:extension_dial_check": (
        lambda d: (
            reverse("extensions:extension_dial_check", args=[d.extension.pk])
            + "?number=0912345678&at=2025-03-03T17:00"
        ),
        {"agent": True},
    ),
    "extensions:extension_reveal": (
        lambda d: reverse("extensions:extension_detail", args=[d.extension.pk]),
        {"agent": True, "reach": _click("#reveal-button"), "post_only": True},
    ),
    "extensions:extension_edit": (lambda d: reverse("extensions:extension_edit", args=[d.extension.pk]), {}),
    "extensions:extension_delete": (
        lambda d: reverse("extensions:extension_delete", args=[d.extension.pk]),
        {},
    ),
    "extensions:sharelink_add": (
        lambda d: reverse("extensions:extension_detail", args=[d.extension.pk]),
        {"reach": _click("#share-create-button"), "post_only": True},
    ),
    "extensions:sharelink_open": (
        lambda d: reverse("extensions:sharelink_open"),
        {"agent": True, "reach": _open_share_link},
    ),
    "extensions:sharelink_legacy": (
        lambda d: reverse("extensions:sharelink_legacy", args=["a-link-of-the-old-kind"]),
        {"agent": True, "status": {"admin": 410, "agent": 410}},
    ),
    "extensions:provisioning_link_add": (
        lambda d: reverse("extensions:extension_detail", args=[d.extension.pk]),
        {"agent": True, "reach": _click("#provisioning-create-button"), "post_only": True},
    ),
    "extensions:extension_onboarding": (
        lambda d: reverse("extensions:extension_list", args=[d.hotline.pk]),
        {"reach": _select_all_then("#onboarding-button"), "post_only": True},
    ),
    # What a person's browser (or a link-preview bot) sees at a phone's setup link: a harmless
    # page that does not use the link up.
    "extensions:provisioning_config": (
        lambda d: reverse("extensions:provisioning_config", args=[d.new_provisioning_token()]),
        {"agent": True},
    ),
    "sip:phone": (
        lambda d: reverse("sip:phone"),
        {"agent": True, "status": {"admin": 404}},  # the demo admin has no extension of their own
    ),
    "webhooks:webhook_list": (lambda d: reverse("webhooks:webhook_list"), {}),
    "webhooks:webhook_add": (lambda d: reverse("webhooks:webhook_add"), {}),
    "webhooks:webhook_detail": (lambda d: reverse("webhooks:webhook_detail", args=[d.webhook.pk]), {}),
    "webhooks:webhook_edit": (lambda d: reverse("webhooks:webhook_edit", args=[d.webhook.pk]), {}),
    "webhooks:webhook_delete": (lambda d: reverse("webhooks:webhook_delete", args=[d.webhook.pk]), {}),
    "calls:hotline_calls": (lambda d: reverse("calls:hotline_calls", args=[d.hotline.pk]), {}),
    "calls:wallboard": (lambda d: reverse("calls:wallboard", args=[d.hotline.pk]), {}),
    "calls:extension_calls": (
        lambda d: reverse("calls:extension_calls", args=[d.extension.pk]),
        {"agent": True},
    ),
    "calls:export_list": (lambda d: reverse("calls:export_list"), {"agent": True}),
    "tenants:api_token": (lambda d: reverse("tenants:api_token"), {}),
    "audit:auditevent_list": (lambda d: reverse("audit:auditevent_list"), {}),
    "audit:sip_security": (lambda d: reverse("audit:sip_security"), {}),
}
# Error pages that no pattern names: an address that matches nothing.
EXTRA: dict[str, tuple[str, dict[str, Any]]] = {
    "404 (no such page)": ("/no-such-page/", {"agent": True, "status": {"admin": 404, "agent": 404}})
}


def named_patterns() -> Iterator[tuple[str, str]]:
    """(name, route) of every pattern, "namespace:name" for those in a namespace; an unnamed
    pattern comes as ("", route)."""

    def walk(patterns, prefix: str, namespace: str):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}{pattern.name}" if pattern.name else ""
                yield name, prefix + str(pattern.pattern)

    yield from walk(get_resolver().url_patterns, "", "")


def unmapped_patterns() -> list[str]:
    """Patterns that are neither mapped in PAGES nor excluded with a reason."""
    missing = []
    for name, route in named_patterns():
        namespace = name.split(":", 1)[0] if ":" in name else ""
        if namespace in EXCLUDED_NAMESPACES or (not name and route.startswith("admin/")):
            continue
        if name in EXCLUDED or name in PAGES:
            continue
        missing.append(name or f"(unnamed) {route}")
    return missing


def page_targets(demo: Demo) -> list[Target]:
    targets = [Target(name=name, path=path(demo), **options) for name, (path, options) in PAGES.items()]
    targets += [Target(name=name, path=path, **options) for name, (path, options) in EXTRA.items()]
    return targets
