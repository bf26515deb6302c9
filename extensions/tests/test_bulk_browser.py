"""The bulk pages in a real browser (Debian's Chromium): static/js/bulk.js under the strict CSP —
"select all", the selection count, and the progress bar polled while an import runs."""

import pytest

from extensions.choices import ImportStatus
from extensions.models import Extension, ImportJob
from tests.browser import chromium_page
from tests.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEADER = "number,alias,call_permission,supervisor,outbound_hotlines,outbound_groups,description,enabled"


def test_select_all_then_bulk_edit(live_server, world):
    hotline = world.hotline_a
    with chromium_page() as page:
        problems = []
        page.on(
            "console",
            lambda message: (
                problems.append(message.text)
                if message.type == "error" and "Failed to load resource" not in message.text
                else None
            ),
        )
        page.on(
            "response",
            lambda response: (
                problems.append(response.url)
                if response.status >= 400 and not response.url.endswith("/favicon.ico")
                else None
            ),
        )
        sign_in(page, live_server.url, world.admin_a.username, "pw")
        page.goto(f"{live_server.url}/hotlines/{hotline.pk}/extensions/")
        assert page.locator(".js-selected-count").inner_text() == "0"
        assert page.locator("button.js-needs-selection").first.is_disabled()
        page.locator(".js-select-all").check()
        assert page.locator(".js-selected-count").inner_text() == "3"
        page.locator("button.js-needs-selection").first.click()  # "Edit selected…"
        page.wait_for_url("**/bulk-edit/")
        page.select_option("#id_enabled", "false")
        page.locator("form button[type=submit]").last.click()
        page.wait_for_selector("#bulk-changes")
        assert page.locator("#bulk-changes tbody tr").count() == 3
        page.locator("form button[type=submit]").last.click()
        page.wait_for_url(f"**/hotlines/{hotline.pk}/extensions/")
        assert not problems, problems  # no script refused by the CSP, no JS error
    assert not Extension.objects.filter(hotline=hotline, enabled=True).exists()


def test_import_shows_progress_while_it_runs(live_server, world):
    hotline = world.hotline_a
    rows = "".join(f"{10000 + i},nv{i},mobile,,,,Nhân viên {i},true\r\n" for i in range(10_000))
    with chromium_page() as page:
        polled = []
        page.on(
            "response",
            lambda response: (
                polled.append(response.status) if "/extensions/imports/progress/" in response.url else None
            ),
        )
        sign_in(page, live_server.url, world.admin_a.username, "pw")
        page.goto(f"{live_server.url}/hotlines/{hotline.pk}/extensions/import/")
        page.set_input_files(
            "#id_file",
            files=[{"name": "staff.csv", "mimeType": "text/csv", "buffer": f"{HEADER}\r\n{rows}".encode()}],
        )
        # The upload and the apply take seconds: wait for their pages below, not in click().
        page.locator("form.js-progress button[type=submit]").click(no_wait_after=True)
        page.wait_for_url("**/extensions/imports/*/", timeout=60_000)
        assert 200 in polled, polled  # the bar was drawn from the server's counters
        polled.clear()
        page.locator("#apply-import").click(no_wait_after=True)
        page.wait_for_selector(".alert-success", timeout=60_000)
        assert 200 in polled, polled
        # Then any one of the 10,000 is found by its alias from the list's search box.
        page.goto(f"{live_server.url}/hotlines/{hotline.pk}/extensions/")
        page.fill("#id_search", "nv5432")
        page.press("#id_search", "Enter")
        page.wait_for_url("**search=nv5432*")
        found = page.locator("tbody tr:has(.js-select-row)")
        assert found.count() == 1
        assert "15432" in found.inner_text() and "Nhân viên 5432" in found.inner_text()
    assert ImportJob.objects.get().status == ImportStatus.APPLIED
    assert Extension.objects.filter(hotline=hotline).count() == 10_003


def test_the_supervisor_picker_offers_matches_as_one_types(live_server, world):
    """static/js/picker.js under the strict CSP: typing in the supervisor field fills its list
    from the API; the chosen number is saved."""
    extension = world.ext_a["102"]
    with chromium_page() as page:
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        sign_in(page, live_server.url, world.admin_a.username, "pw")
        page.goto(f"{live_server.url}/extensions/{extension.pk}/edit/")
        page.fill("#id_supervisor", "bos")  # part of the alias "bossa" of extension 100
        page.wait_for_function(
            "() => [...document.querySelectorAll('#id_supervisor-choices option')]"
            ".some(o => o.value === '100')",
            timeout=10_000,
        )
        labels = page.eval_on_selector_all("#id_supervisor-choices option", "os => os.map(o => o.label)")
        assert labels == ["100 — bossa"], labels
        page.fill("#id_supervisor", "100")
        page.locator("form [type=submit][name=save]").click()
        page.wait_for_url(f"**/extensions/{extension.pk}/")
        assert not [e for e in errors if "Content Security Policy" in e], errors
    extension.refresh_from_db()
    assert extension.supervisor_id == world.ext_a["100"].pk
