"""sip performs the side effects the apps below it announce (they never import sip)."""

import logging

import pytest

from hotlines.services import hotline_create, hotline_update
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_kamailio(tmp_path, monkeypatch):
    """Where config_from_settings looks for the control socket: an empty directory."""
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(tmp_path))
    return tmp_path


def test_a_hotline_change_asks_kamailio_to_reload_its_domains_after_the_commit(
    no_kamailio, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger="sip.services")
    with django_capture_on_commit_callbacks(execute=True):
        hotline = hotline_create(tenant=TenantFactory(), number="1900 6002")
        assert "domain.reload" not in caplog.text  # not before the commit
    assert (
        f"No Kamailio control socket at {no_kamailio / 'kamailio_ctl'}; skipped domain.reload" in caplog.text
    )

    caplog.clear()
    with django_capture_on_commit_callbacks(execute=True):
        hotline_update(hotline=hotline, enabled=False)
    assert "skipped domain.reload" in caplog.text
