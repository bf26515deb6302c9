"""A real Kamailio for the SIP tests, started once per test session on free loopback ports
against the test database, connected as the restricted role production uses."""

import io
import re

import pytest
from django.core.management import call_command
from django.db import connection

from sip.kamailio import Kamailio, KamailioConfig, db_url_for, free_port, free_sip_port


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("The SIP tests need PostgreSQL (DATABASE_URL=postgres://…), as CI runs them.")


@pytest.fixture(scope="session")
def kamailio_role(django_db_setup, django_db_blocker) -> str:
    """Kamailio's role on the test database, made by the same command as in production.
    Roles are cluster-wide, so the name carries the database's, to stay apart from other runs."""
    with django_db_blocker.unblock():
        _require_postgresql()
        role = re.sub(r"[^a-z0-9_]", "_", f"kamailio_{connection.settings_dict['NAME']}".lower())[:63]
        call_command("kamailio_db_role", role=role, stdout=io.StringIO())
    return role


@pytest.fixture(scope="session")
def kamailio_server(kamailio_role, django_db_blocker, tmp_path_factory):
    """Kamailio on free ports, stopped (with all its children) when the session ends."""
    with django_db_blocker.unblock():
        db_url = db_url_for(connection.settings_dict, user=kamailio_role, password="")
    config = KamailioConfig(
        db_url=db_url,
        sip_port=free_sip_port(),
        ws_port=free_port(),
        children=2,
        # Only explicit reloads in these tests, so the tests of them can fail.
        domain_reload_seconds=3600,
        runtime_dir=tmp_path_factory.mktemp("kamailio"),
    )
    server = Kamailio(config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kamailio(kamailio_server, transactional_db, settings):
    """The running Kamailio, for a test whose rows it must see (so committed: transactional_db).
    The login info points at it, as the dashboard's settings point at `make sip`."""
    config = kamailio_server.config
    settings.SIP_OUTBOUND_PROXY = f"{config.listen_ip}:{config.sip_port}"
    settings.SIP_WEBSOCKET_URL = f"ws://{config.listen_ip}:{config.ws_port}{config.ws_path}"
    return kamailio_server
