"""Branded error pages (400, 403, 404, 410, 429, 500): in the user's language, with the menu and
a way back, also with DEBUG on as in the `make run` demo (DJANGO_DEBUG_PAGES=1 brings Django's
technical pages back), and `make run PORT=…` serving them on that port."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.test import override_settings
from django.urls import reverse

from tests.outages import free_port

pytestmark = pytest.mark.django_db
BASE_DIR = Path(__file__).resolve().parent.parent


def _page(response) -> str:
    return response.content.decode()


@pytest.fixture
def admin(client, world):
    client.force_login(world.admin_a)
    return client


@pytest.fixture
def agent(client, world):
    client.force_login(world.agent_a)
    return client


def _assert_branded(page: str, *, status: int, menu: str | None = None) -> None:
    assert 'id="error-page"' in page and f'data-status="{status}"' in page
    assert 'id="error-way-back"' in page and 'href="/"' in page
    if menu:
        assert menu in page


def test_404_in_vietnamese_with_the_menu_and_a_way_back(admin):
    response = admin.get("/no-such-page/", HTTP_REFERER="http://testserver/hotlines/")
    assert response.status_code == 404
    page = _page(response)
    _assert_branded(page, status=404, menu="Quản lý đầu số")
    assert "Trang này không tồn tại" in page
    assert 'href="http://testserver/hotlines/"' in page  # back to where the user came from
    assert response["Content-Language"] == "vi"


def test_404_in_english_when_chosen(admin):
    admin.cookies["django_language"] = "en"
    page = _page(admin.get("/no-such-page/"))
    assert "This page does not exist" in page and "Hotline management" in page


def test_another_tenants_object_is_a_branded_404(admin, world):
    response = admin.get(reverse("extensions:extension_detail", args=[world.ext_b["101"].pk]))
    assert response.status_code == 404
    _assert_branded(_page(response), status=404)


def test_an_agent_gets_a_403_that_explains_and_shows_their_menu(agent):
    response = agent.get(reverse("hotlines:hotline_list"))
    assert response.status_code == 403
    page = _page(response)
    _assert_branded(page, status=403, menu="Máy lẻ của tôi")
    assert "tài khoản nhân viên" in page
    assert "Quản lý đầu số</a>" not in page  # the agent's menu, not an admin's


def test_a_bad_host_is_a_branded_400(client):
    response = client.get("/accounts/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    _assert_branded(_page(response), status=400)
    assert "evil.example" not in _page(response)


def test_an_old_share_link_is_a_410_with_a_way_back(client):
    response = client.get(reverse("extensions:sharelink_legacy", args=["old-token"]))
    assert response.status_code == 410
    assert 'id="error-way-back"' in _page(response)


def test_a_locked_out_sign_in_is_a_429_that_says_the_minutes(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post(reverse("login"), {"username": world.admin_a.username, "password": "wrong"})
    response = client.post(reverse("login"), {"username": world.admin_a.username, "password": "pw"})
    assert response.status_code == 429
    page = _page(response)
    _assert_branded(page, status=429)
    assert "Hãy thử lại sau 15 phút" in page
    assert response["Retry-After"] == "900"


@pytest.fixture
def broken_hotline_list(monkeypatch):
    from hotlines import views

    def explode(self, request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views.HotlineListView, "get", explode)


def test_a_crash_is_a_branded_500_with_the_menu(admin, broken_hotline_list):
    admin.raise_request_exception = False
    response = admin.get(reverse("hotlines:hotline_list"))
    assert response.status_code == 500
    page = _page(response)
    _assert_branded(page, status=500, menu="Quản lý đầu số")
    assert "a bug" not in page and "Traceback" not in page


@override_settings(DEBUG=True)
def test_with_debug_on_the_pages_are_still_branded(admin, broken_hotline_list):
    """The `make run` demo runs with DEBUG on: no technical page for a person trying it."""
    admin.raise_request_exception = False
    assert "Trang này không tồn tại" in _page(admin.get("/no-such-page/"))
    missing = admin.get(reverse("hotlines:hotline_detail", args=[999999]))  # Http404 from a view
    assert missing.status_code == 404 and 'data-status="404"' in _page(missing)
    crash = admin.get(reverse("hotlines:hotline_list"))
    assert crash.status_code == 500 and 'data-status="500"' in _page(crash)
    assert "Traceback" not in _page(crash)


@override_settings(DEBUG=True, DEBUG_PAGES=True)
def test_django_debug_pages_on_request(admin, broken_hotline_list):
    admin.raise_request_exception = False
    assert "Using the URLconf" in _page(admin.get("/no-such-page/"))
    assert "RuntimeError" in _page(admin.get(reverse("hotlines:hotline_list")))


def test_make_run_serves_on_the_port_given_with_branded_pages(tmp_path):
    """`make run PORT=…` (DEBUG on, SQLite): the dashboard on that port, and its 404 branded."""
    if not shutil.which("make"):
        pytest.fail("make is not installed")
    port = free_port()
    venv = Path(os.environ.get("VIRTUAL_ENV") or Path(sys.executable).parent.parent)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    for name in ("SIP_ENCRYPTION_KEYS", "DJANGO_SECRET_KEY", "DJANGO_DEBUG_PAGES"):
        env.pop(name, None)  # the demo's own debug defaults, as `make run` has them
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        # -o: the virtualenv is this one, already installed (no pip run).
        process = subprocess.Popen(  # noqa: S603 - our own Makefile
            ["make", "run", f"PORT={port}", f"VENV={venv}", "-o", f"{venv}/.run-installed"],  # noqa: S607
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log_path.read_text()[-3000:]
            try:
                response = requests.get(f"http://127.0.0.1:{port}/no-such-page/", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.5)
        assert response.status_code == 404
        assert 'id="error-page"' in response.text and "Trang này không tồn tại" in response.text
        assert f"http://127.0.0.1:{port}/" in log_path.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
