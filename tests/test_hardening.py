"""Production hardening: no plaintext secret in a database dump, deploy checks clean,
strict CSP, sign-in lockout, and no lost or duplicated writes under concurrency."""

import os
import shutil
import subprocess
import sys
import threading

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.urls import reverse

from extensions.models import Extension
from extensions.services import extension_update
from tests.api import api_client

ROOT = settings.BASE_DIR


@pytest.mark.django_db(transaction=True)
def test_pg_dump_holds_no_plaintext_password(world):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump needs the PostgreSQL database (set DATABASE_URL)")
    if not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed (make system-deps installs postgresql-client)")
    passwords = [e.get_sip_password() for w in (world.ext_a, world.ext_b) for e in w.values()]
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            db["HOST"] or "127.0.0.1",
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            db["USER"] or "postgres",
            db["NAME"],
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert world.ext_a["101"].alias in dump  # the dump really has the extensions
    assert world.ext_a["101"].ha1 in dump
    for password in passwords:
        assert password not in dump


def production_env(*, without: tuple[str, ...] = (), database_url: str = "") -> dict[str, str]:
    """The environment of a production process (DEBUG off, every PRODUCTION_SETTINGS value set)
    but for `without`; the test run's own variables otherwise, none of its settings module."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in settings.PRODUCTION_SETTINGS and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="pbx_admin.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="x" * 20 + "-a-long-random-production-secret-key-0123456789",
        SIP_ENCRYPTION_KEYS="dGVzdC1vbmx5LXNpcC1rZXktMzItYnl0ZXMtbG9uZyE=",
        DJANGO_ALLOWED_HOSTS="pbx.example.vn",
        DATABASE_URL=database_url or "postgres://pbx_admin@db.example.vn:5432/pbx_admin",
        REDIS_URL="redis://127.0.0.1:6379/1",
        SIP_DOMAIN_SUFFIX="sip.example.vn",
        SIP_OUTBOUND_PROXY="sip.example.vn:5060",
        SIP_WEBSOCKET_URL="wss://sip.example.vn:8443/ws",
    )
    for name in without:
        del env[name]
    return env


def database_url_of(connection) -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)


def test_check_deploy_reports_nothing():
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_app_servers_refuse_to_start_naming_every_missing_setting():
    names = tuple(settings.PRODUCTION_SETTINGS)
    assert {"DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "SIP_DOMAIN_SUFFIX"} <= set(names)
    assert {"SIP_OUTBOUND_PROXY", "SIP_WEBSOCKET_URL", "DJANGO_SECRET_KEY", "SIP_ENCRYPTION_KEYS"} <= set(
        names
    )
    # With everything set, the app servers start: the refusals below are for what is missing.
    for module in ("pbx_admin.wsgi", "pbx_admin.asgi"):
        started = run([sys.executable, "-c", f"import {module}"], production_env())
        assert started.returncode == 0, started.stderr
    env = production_env(without=names)
    message = (
        "DJANGO_SECRET_KEY, SIP_ENCRYPTION_KEYS, DJANGO_ALLOWED_HOSTS, DATABASE_URL, REDIS_URL, "
        "SIP_DOMAIN_SUFFIX, SIP_OUTBOUND_PROXY and SIP_WEBSOCKET_URL must be set when DJANGO_DEBUG is off"
    )
    for module in ("pbx_admin.wsgi", "pbx_admin.asgi"):
        server = run([sys.executable, "-c", f"import {module}"], env)
        assert server.returncode != 0
        assert f"ImproperlyConfigured: {message}" in server.stderr
        assert "  DATABASE_URL: the PostgreSQL database" in server.stderr  # what each one is for
    # The deploy check says so too, as an error.
    deploy = run([sys.executable, "manage.py", "check", "--deploy"], env)
    assert deploy.returncode != 0
    assert "pbx.E001" in deploy.stderr and message in deploy.stderr


def test_app_servers_refuse_to_start_with_turn_settings_that_cannot_work():
    """Not a 500 on the phone page later: the start stops with what is wrong (and the deploy
    check says it too)."""
    for extra, message in (
        ({"WEB_PHONE_ICE_TRANSPORT_POLICY": "relay"}, "POLICY=relay needs a turn: URL"),
        ({"WEB_PHONE_TURN_URLS": "turn:turn.example.vn:3478"}, "WEB_PHONE_TURN_SECRET must be set too"),
        ({"WEB_PHONE_TURN_URLS": "http://turn.example.vn"}, "is not a stun:, turn: or turns: URL"),
    ):
        env = {**production_env(), **extra}
        for module in ("pbx_admin.wsgi", "pbx_admin.asgi"):
            server = run([sys.executable, "-c", f"import {module}"], env)
            assert server.returncode != 0 and message in server.stderr, server.stderr[-2000:]
        deploy = run([sys.executable, "manage.py", "check", "--deploy"], env)
        assert deploy.returncode != 0 and "pbx.E101" in deploy.stderr and message in deploy.stderr


@pytest.mark.parametrize("name", list(settings.PRODUCTION_SETTINGS))
def test_each_missing_production_setting_is_named(name, monkeypatch, settings):
    from django.core.exceptions import ImproperlyConfigured

    from core.checks import check_production_settings, missing_settings, require_production_settings

    production = production_env()
    for key in settings.PRODUCTION_SETTINGS:
        monkeypatch.setenv(key, production[key])
    monkeypatch.delenv(name)
    settings.DEBUG = False
    assert missing_settings() == [name]
    [error] = check_production_settings(None)
    assert error.id == "pbx.E001" and error.msg.startswith(f"{name} must be set when DJANGO_DEBUG is off")
    with pytest.raises(ImproperlyConfigured, match=name):
        require_production_settings()
    monkeypatch.setenv(name, " , ")  # blank is not set
    assert missing_settings() == [name]
    # The demo (DEBUG on) runs on its development defaults.
    settings.DEBUG = True
    assert missing_settings() == [] and check_production_settings(None) == []
    require_production_settings()


@pytest.mark.django_db
def test_missing_production_settings_never_stop_management_commands():
    if connection.vendor != "postgresql":
        pytest.skip("the commands run on the test's PostgreSQL database (set DATABASE_URL)")
    # Everything missing but the database the commands work on (the test database).
    env = production_env(
        without=tuple(n for n in settings.PRODUCTION_SETTINGS if n != "DATABASE_URL"),
        database_url=database_url_of(connection),
    )
    for args in (
        ["makemigrations", "--check", "--dry-run"],
        ["migrate", "--check"],
        ["check"],
        ["create_tenant", "--help"],
    ):
        result = run([sys.executable, "manage.py", *args], env)
        assert result.returncode == 0, (args, result.stdout + result.stderr)
        assert "must be set" not in result.stderr


@pytest.mark.django_db
def test_pages_carry_a_strict_csp_and_no_inline_script(client, world):
    client.force_login(world.admin_a)
    for url in (
        reverse("hotlines:hotline_list"),
        reverse("extensions:extension_detail", kwargs={"pk": world.ext_a["101"].pk}),
    ):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert "object-src 'none'" in policy
        html = response.content.decode()
        assert "<script>" not in html and " style=" not in html and " onclick=" not in html


@pytest.mark.django_db
def test_sign_in_locks_out_after_repeated_failures(client, world, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": world.admin_a.username, "password": "wrong"})
    locked = client.post(reverse("login"), {"username": world.admin_a.username, "password": "pw"})
    assert locked.status_code in (403, 429)
    assert not locked.wsgi_request.user.is_authenticated


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_creates_of_one_number_give_one_extension(live_server, world):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL (set DATABASE_URL)")
    hotline = world.hotline_a
    url = live_server.url + reverse("extensions:extension_add", kwargs={"hotline_pk": hotline.pk})
    sessions = []
    for _ in range(20):
        session = requests.Session()
        page = session.get(live_server.url + reverse("login"))
        assert page.status_code == 200
        session.post(
            live_server.url + reverse("login"),
            data={
                "username": world.admin_a.username,
                "password": "pw",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": live_server.url},
        )
        sessions.append(session)
    barrier = threading.Barrier(20)
    statuses: list[tuple[int, str]] = []

    def create(session):
        barrier.wait()
        response = session.post(
            url,
            data={
                "number": "555",
                "alias": f"race{len(statuses)}{threading.get_ident() % 1000}",
                "call_permission": 3,
                "enabled": "on",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": live_server.url},
            allow_redirects=False,
        )
        statuses.append((response.status_code, response.text))

    threads = [threading.Thread(target=create, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(code for code, _ in statuses)
    assert codes.count(302) == 1, codes
    assert codes.count(400) == 19, codes
    assert all(code != 500 for code in codes)
    refusals = [text for code, text in statuses if code == 400]
    assert all("tồn tại" in text or "exists" in text for text in refusals)
    assert Extension.objects.filter(hotline=hotline, number="555").count() == 1


@pytest.mark.django_db(transaction=True)
def test_overlapping_edits_never_lose_the_first_change(world):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are tested on PostgreSQL (set DATABASE_URL)")
    from django.core.exceptions import ValidationError
    from django.db import close_old_connections

    ext = world.ext_a["102"]
    opened = ext.version
    results = []
    barrier = threading.Barrier(2)

    def edit(description):
        barrier.wait()
        try:
            extension_update(extension=ext, expected_version=opened, data={"description": description})
            results.append(("ok", description))
        except ValidationError as exc:
            results.append((exc.code, description))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=edit, args=(d,)) for d in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = sorted(r[0] for r in results)
    assert outcomes == ["ok", "stale"], results
    winner = next(d for code, d in results if code == "ok")
    ext.refresh_from_db()
    assert ext.description == winner


# --- hostile input: a 4xx, never a 500 ----------------------------------------------------------

HUGE_PAGE = "99999999999999999999"  # past any bigint: PostgreSQL refused it as an OFFSET


@pytest.mark.django_db
def test_a_huge_page_number_on_the_list_page_is_like_any_page_past_the_end(client, world):
    client.force_login(world.admin_a)
    url = reverse("extensions:extension_list", kwargs={"hotline_pk": world.hotline_a.pk})
    past_the_end = client.get(url, {"page": "999"})
    huge = client.get(url, {"page": HUGE_PAGE})
    assert past_the_end.status_code == huge.status_code == 200  # the last page, as Django's get_page
    assert huge.context["page"].number == past_the_end.context["page"].number == 1
    assert list(huge.context["page"]) == list(past_the_end.context["page"])
    assert b"kda" in huge.content and b"bossa" in huge.content


@pytest.mark.django_db
@pytest.mark.parametrize("query", [{}, {"hotline": "HOTLINE"}, {"search": "10"}])
def test_a_huge_page_number_in_the_api_is_an_invalid_page(world, query):
    query = {k: world.hotline_a.pk if v == "HOTLINE" else v for k, v in query.items()}
    client = api_client(world.admin_a)
    for page in ("999", HUGE_PAGE):
        response = client.get("/api/v1/extensions/", {**query, "page": page})
        assert response.status_code == 404, response.content
        assert response.json() == {"detail": "Invalid page."}


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        nested(100_000),  # json.loads itself: RecursionError
        '{"description": ' + nested(100_000) + "}",
        '{"description": ' + nested(40) + "}",  # parses, then a serializer would walk it
    ],
    ids=["array", "in-a-field", "40-levels"],
)
@pytest.mark.parametrize("route", ["create", "patch", "bulk", "number-group"])
def test_deeply_nested_json_is_a_400(world, body, route):
    extension = world.ext_a["101"]
    method, url = {
        "create": ("post", "/api/v1/extensions/"),
        "patch": ("patch", f"/api/v1/extensions/{extension.pk}/"),
        "bulk": ("post", "/api/v1/extensions/bulk/"),
        "number-group": ("post", "/api/v1/number-groups/"),
    }[route]
    response = getattr(api_client(world.admin_a), method)(
        url, body, content_type="application/json", HTTP_IF_MATCH=f'"{extension.version}"'
    )
    assert response.status_code == 400, response.content
    assert response.json() == {"detail": "JSON parse error - nested deeper than 32 levels."}


@pytest.mark.django_db
def test_json_nested_as_deep_as_allowed_reaches_the_serializer(world):
    response = api_client(world.admin_a).post(
        "/api/v1/extensions/", '{"description": ' + nested(31, '"x"') + "}", content_type="application/json"
    )
    assert response.status_code == 400
    assert "description" in response.json()  # a field error, not a parse error


@pytest.mark.django_db
def test_a_10_mb_body_on_the_api_is_a_413_in_json(world):
    from django.test import Client

    big = '{"description": "' + "x" * (10 * 1024 * 1024) + '"}'
    token = api_client(world.admin_a)
    extension = world.ext_a["101"]
    responses = [
        token.post("/api/v1/extensions/", big, content_type="application/json"),
        token.patch(f"/api/v1/extensions/{extension.pk}/", big, content_type="application/json"),
    ]
    # A browser session (the dashboard's own scripts): DRF's CSRF check reads the body first.
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin_a)
    client.cookies[settings.CSRF_COOKIE_NAME] = "x" * 32
    responses.append(client.post("/api/v1/extensions/", big, content_type="application/json"))
    for response in responses:
        assert response.status_code == 413, response.content[:200]
        assert response["Content-Type"] == "application/json"
        assert "2.5 MB" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("multipart", [False, True], ids=["text/csv", "multipart"])
def test_a_csv_import_near_its_limit_is_not_refused_by_the_json_limit(world, multipart):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from extensions import csvio

    header = "number,alias,call_permission,supervisor,outbound_hotlines,outbound_groups,description,enabled"
    rows = [f"{1000 + i},imp{i},mobile,,,,{'m' * 1000},true" for i in range(4900)]
    data = ("\r\n".join([header, *rows]) + "\r\n").encode()
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 4_900_000 < len(data) <= csvio.MAX_BYTES
    client = api_client(world.admin_a)
    url = f"/api/v1/extensions/import/?hotline={world.hotline_a.pk}&dry_run=true"
    if multipart:
        response = client.post(url, {"file": SimpleUploadedFile("big.csv", data)}, format="multipart")
    else:
        response = client.generic("POST", url, data, content_type="text/csv")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["counts"]["create"] == 4900


def test_env_example_and_the_deployment_guide_list_every_production_setting():
    example = (ROOT / ".env.example").read_text()
    listed = {
        line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")
    }
    guide = (ROOT / "docs" / "deployment.md").read_text()
    for name in settings.PRODUCTION_SETTINGS:
        assert name in listed, name
        assert f"`{name}" in guide, name
