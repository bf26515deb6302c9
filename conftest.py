"""Suite-wide rules: under CI=true a skipped test is a failure (nothing may hide)."""

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"Skipped under CI=true, which must run everything: {reason}"


@pytest.fixture(autouse=True)
def english_messages():
    """Unit tests read messages in English; requests still get Vietnamese by default, since
    the language middleware activates the user's language per request."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def world(db):
    """Two tenants, each with an admin, two hotlines, a number group and extensions 100–102;
    tenant A also has an agent on its extension 101."""
    from tests.factories import (
        HotlineFactory,
        NumberGroupFactory,
        TenantFactory,
        make_admin,
        make_agent,
        make_extension,
    )

    class World:
        pass

    w = World()
    for key in ("a", "b"):
        tenant = TenantFactory(slug=f"tenant-{key}", name=f"Tenant {key.upper()}")
        hotline = HotlineFactory(tenant=tenant)
        second = HotlineFactory(tenant=tenant)
        group = NumberGroupFactory(tenant=tenant, name=f"Group {key.upper()}")
        e100 = make_extension(hotline, "100", f"boss{key}")
        e101 = make_extension(hotline, "101", f"sale{key}", supervisor=e100, outbound_groups=[group])
        e102 = make_extension(hotline, "102", f"kd{key}")
        setattr(w, f"tenant_{key}", tenant)
        setattr(w, f"admin_{key}", make_admin(tenant))
        setattr(w, f"hotline_{key}", hotline)
        setattr(w, f"hotline_{key}2", second)
        setattr(w, f"group_{key}", group)
        setattr(w, f"ext_{key}", {"100": e100, "101": e101, "102": e102})
    w.agent_a = make_agent(w.tenant_a, w.ext_a["101"], username="agent-a")
    return w
