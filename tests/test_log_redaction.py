"""Provisioning tokens stay out of the logs. A provisioning link has its token in its path (a
softphone fetches the URL as it is), so every line that names a request path would hold one:
gunicorn's access log, Django's request warnings. Here gunicorn runs as docs/deployment.md
runs it (deploy/gunicorn.conf.py), and the link is previewed, fetched by Linphone, fetched
again (410) and guessed (404): each request is in the log, no token is."""

import os
import sys
import urllib.error
import urllib.request

import pytest
from django.db import connection

from bench.load_bench import start_gunicorn, stop_gunicorn
from core.log_redaction import REDACTED, redact
from extensions.provisioning import provisioning_link_create
from sip.kamailio import db_url_for, free_port
from tests.factories import HotlineFactory, make_extension

LINPHONE_UA = "LinphoneAndroid/5.2.5 (Pixel 7) LinphoneSDK/5.3.47"


def fetch(url: str, method: str = "GET", **headers) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers), timeout=30):
            return 200
    except urllib.error.HTTPError as error:
        return error.code


def test_redact_replaces_only_the_token():
    line = '"GET /provision/AbC-12_x/?a=1 HTTP/1.1" 410'
    assert redact(line) == f'"GET /provision/{REDACTED}/?a=1 HTTP/1.1" 410'
    assert redact("Gone: /provision/AbC-12_x/") == f"Gone: /provision/{REDACTED}/"
    assert redact("GET /extensions/12/provisioning-link/") == "GET /extensions/12/provisioning-link/"


@pytest.mark.django_db(transaction=True)
def test_provisioning_tokens_never_reach_the_logs(tmp_path):
    extension = make_extension(HotlineFactory(), "101", "sale01")
    unused = provisioning_link_create(extension=extension).token
    used = provisioning_link_create(extension=extension).token
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        "DJANGO_SETTINGS_MODULE": "pbx_admin.settings",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": db_url_for(connection.settings_dict),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"),
        "DJANGO_LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "pbx_admin.wsgi"]
    command += ["--workers", "1", "--bind", f"127.0.0.1:{port}", "--no-control-socket"]
    process = start_gunicorn(command, env, port, log, ready_path="/healthz")
    try:
        base = f"http://127.0.0.1:{port}/provision"
        assert fetch(f"{base}/{unused}/", "HEAD", **{"User-Agent": "Slackbot-LinkExpanding 1.0"}) == 200
        assert fetch(f"{base}/{used}/", **{"User-Agent": LINPHONE_UA}) == 200
        assert fetch(f"{base}/{used}/", **{"User-Agent": LINPHONE_UA}) == 410
        assert fetch(f"{base}/{'x' * 43}/", **{"User-Agent": LINPHONE_UA}) == 404
    finally:
        stop_gunicorn(process)
    text = log.read_text(errors="replace")
    # Every request is in the access log, and Django's warnings name the path, redacted.
    assert text.count(f"/provision/{REDACTED}/ HTTP/1.1") >= 4, text[-3000:]
    assert f"Gone: /provision/{REDACTED}/" in text, text[-3000:]
    assert f"Not Found: /provision/{REDACTED}/" in text, text[-3000:]
    for token in (unused, used, "x" * 43):
        assert token not in text, text[-3000:]
