"""Live status through a real Kamailio: a call in progress shows on the status poll and the
wallboard until it is hung up."""

import re
import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from extensions.services import extension_reveal_credentials
from hotlines.models import Hotline
from sip.call_records import call_records_import
from sip.models import Call
from tests.factories import HotlineFactory, make_admin, make_extension

from .media import Baresip, write_tone

pytestmark = pytest.mark.sip


def wait(condition, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


# --- Calls in progress on the status poll and the wallboard ------------------------------------


def call_cells(html: str) -> dict[str, str]:
    """The wallboard's call column: extension id → its text."""
    return {
        pk: re.sub(r"\s+", " ", text).strip()
        for pk, text in re.findall(r'data-ext-call="(\d+)">(.*?)</td>', html, flags=re.S)
    }


def test_a_call_in_progress_shows_on_the_status_and_the_wallboard_until_hung_up(
    kamailio, relay, tmp_path, settings
):
    settings.LIVE_STATUS_CACHE_SECONDS = 0
    hotline: Hotline = HotlineFactory.create(number="19006662")
    kamailio.reload_domains()
    caller = make_extension(hotline, "101", "sale01")
    callee = make_extension(hotline, "104", "kd04")
    idle = make_extension(hotline, "105", "kd05")
    browser = Client()
    browser.force_login(make_admin(hotline.tenant))
    status_url = reverse("calls:hotline_status", kwargs={"hotline_pk": hotline.pk})
    wallboard_url = reverse("calls:wallboard", kwargs={"hotline_pk": hotline.pk})

    def calls() -> dict[str, Any]:
        response = browser.get(status_url)
        assert response.status_code == 200
        return {s["number"]: s["call"] for s in response.json()["extensions"].values()}

    def dialogs() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM dialog")
            return cursor.fetchone()[0]

    tone = write_tone(tmp_path / "tone.wav", 1000)
    with (
        Baresip(extension_reveal_credentials(extension=caller), tmp_path / "a", tone) as phone_a,
        Baresip(extension_reveal_credentials(extension=callee), tmp_path / "b", tone) as phone_b,
    ):
        assert calls() == {"101": None, "104": None, "105": None}
        phone_a.dial("104")
        phone_a.wait_event("CALL_ESTABLISHED")
        answered = timezone.now()
        wait(lambda: calls()["101"] is not None, 3, "the call on the status")
        now = calls()
        assert now["101"]["peer"] == "104" and now["104"]["peer"] == "101"
        assert now["105"] is None
        since = parse_datetime(now["101"]["since"])
        assert since is not None and since == parse_datetime(now["104"]["since"])
        assert abs((since - answered).total_seconds()) < 3

        page = browser.get(wallboard_url)
        assert page.status_code == 200
        cells = call_cells(page.content.decode())
        local = timezone.localtime(since).strftime("%H:%M")
        assert cells[str(caller.pk)] == f"Đang gọi với 104 từ {local}"  # Vietnamese by default
        assert cells[str(callee.pk)] == f"Đang gọi với 101 từ {local}"
        assert cells[str(idle.pk)] == "—"

        phone_a.hangup()
        phone_b.wait_event("CALL_CLOSED")
        hung_up = time.monotonic()
        wait(lambda: calls() == {"101": None, "104": None, "105": None}, 2, "the call gone from the status")
        assert time.monotonic() - hung_up < 2
        # Kamailio keeps the dialog "confirmed" until it frees it, ~5 s after the BYE: its CDR
        # says it is over, and so does the call once imported (the follower's work).
        assert dialogs() == 1
        call_records_import()
        assert Call.objects.get(caller="101").ended_at is not None
        assert calls() == {"101": None, "104": None, "105": None}
        assert dialogs() == 1, "Kamailio freed the dialog before the check"
        cells = call_cells(browser.get(wallboard_url).content.decode())
        assert cells == {str(caller.pk): "—", str(callee.pk): "—", str(idle.pk): "—"}
