"""Every page an admin or an agent uses (tests/pages.py), in Vietnamese and English, on a phone
(375×812) and a desktop (1280×900), in one browser: nothing scrolls sideways, every copy button
is on the screen, no placeholder is cut off, and axe-core (npm, `make js-deps`) finds no serious
or critical accessibility problem."""

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from extensions import imports, provisioning, sharing
from extensions.models import Extension
from hotlines.models import NumberGroup
from hotlines.services import hotline_set_outbound_schedule, schedule_create
from tests.browser import chromium_browser
from tests.pages import Demo, Target, page_targets, unmapped_patterns
from webhooks.services import webhook_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
ROLES = {"admin": ("admin", "admin"), "agent": ("agent", "agent")}

# What a page shows that does not fit: the document wider than the window, copy buttons off
# the screen, placeholders wider than their box (measured in the field's own font).
LAYOUT = """() => {
  const width = window.innerWidth;
  const visible = (el) => el.offsetParent !== null || el.getClientRects().length > 0;
  const wide = [...document.querySelectorAll("body *")].filter((el) => {
    const r = el.getBoundingClientRect();
    return visible(el) && r.width > 0 && r.right > width + 1 && !el.closest(".table-responsive");
  }).slice(0, 5).map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" ? "." + el.className.trim().replace(/\\s+/g, ".") : ""));
  const copies = [...document.querySelectorAll(".js-copy")].filter(visible).filter((b) => {
    const r = b.getBoundingClientRect();
    return r.left < 0 || r.right > width;
  }).map((b) => b.dataset.copyTarget);
  const canvas = document.createElement("canvas").getContext("2d");
  const cut = [...document.querySelectorAll("input[placeholder], textarea[placeholder]")].filter(visible)
    .filter((input) => {
      const style = getComputedStyle(input);
      canvas.font = style.font;
      const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      return canvas.measureText(input.placeholder).width > room + 1;
    }).map((input) => input.name + ": " + input.placeholder);
  return {scrollWidth: document.documentElement.scrollWidth, width, wide, copies, cut};
}"""

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  // Serious and critical ones, and an empty table header (minor for axe, but a screen reader
  // reads nothing for that column).
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical" || v.id === "empty-table-header")
    .map((v) => v.id + " (" + v.impact + "): " + v.help + " — " +
      v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | "));
}"""


@pytest.fixture
def demo_data(live_server):
    with override_settings(DEBUG=True):  # seed_demo's well-known passwords need DEBUG on
        call_command("seed_demo", verbosity=0)
    from django.contrib.auth import get_user_model

    extension = Extension.objects.select_related("hotline").get(hotline__number="19001234", number="101")
    admin = get_user_model().objects.get(username="admin")
    csv = "number,alias,call_permission\r\n103,kd02,mobile\r\n101,sale01,landline\r\n"
    job = imports.import_job_create(hotline=extension.hotline, user=admin, filename="staff.csv", data=csv)

    def new_share_token() -> str:
        return sharing.share_link_create(extension=extension, user=admin)[1]

    def new_provisioning_token() -> str:
        return provisioning.provisioning_link_create(extension=extension).token

    schedule = schedule_create(
        tenant=extension.hotline.tenant,
        name="Giờ hành chính",
        windows=[
            {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "12:00"},
            {"days": [0, 1, 2, 3, 4], "start": "13:30", "end": "17:30"},
        ],
        holidays=["2026-04-30", "2026-05-01"],
    )
    hotline_set_outbound_schedule(hotline=extension.hotline, schedule=schedule)
    return Demo(
        base=live_server.url,
        hotline=extension.hotline,
        extension=extension,
        group=NumberGroup.objects.get(tenant=extension.hotline.tenant, name="Nhóm gọi ra"),
        import_job=job,
        admin=admin,
        new_share_token=new_share_token,
        new_provisioning_token=new_provisioning_token,
        webhook=webhook_create(
            tenant=extension.hotline.tenant,
            url="https://crm.example.com/pbx-events",
            secret="a-webhook-secret-for-the-page-check",
            events=["extension.created", "call.ended"],
        ),
        schedule=schedule,
    )


def _signed_in(browser, base: str, username: str, password: str):
    """A page of a new phone-sized context, signed in."""
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.locator("form button[type=submit]").last.click()
    return page


def test_every_page_is_mapped():
    """A new pattern needs a line in tests/pages.py (or a reason to be left out there)."""
    assert unmapped_patterns() == []


def _open(page, demo: Demo, target: Target) -> int | None:
    response = page.goto(demo.base + target.path)
    if target.reach is not None:
        target.reach(page, demo)
        return None
    return response.status if response else None


def _problems(page, label: str, *, axe: bool) -> list[str]:
    found = []
    layout = page.evaluate(LAYOUT)
    if layout["scrollWidth"] > layout["width"]:
        found.append(
            f"{label}: scrolls sideways ({layout['scrollWidth']} > {layout['width']}): {layout['wide']}"
        )
    if layout["copies"]:
        found.append(f"{label}: copy buttons off the screen: {layout['copies']}")
    if layout["cut"]:
        found.append(f"{label}: placeholders cut off: {layout['cut']}")
    if axe:
        if not page.evaluate("typeof axe !== 'undefined'"):
            page.evaluate(AXE.read_text())
        found += [f"{label}: axe {v}" for v in page.evaluate(AXE_RUN)]
    return found


def test_every_page_fits_a_phone_and_passes_axe(demo_data, request):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make js-deps`")
    assert unmapped_patterns() == []
    output = request.config.rootpath / "test-results" / request.node.name
    output.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with chromium_browser() as browser:
        for role, (username, password) in ROLES.items():
            page = _signed_in(browser, demo_data.base, username, password)
            context = page.context
            for language in ("vi", "en"):
                context.add_cookies([{"name": "django_language", "value": language, "url": demo_data.base}])
                for target in page_targets(demo_data):
                    if role == "agent" and not target.agent and target.post_only:
                        continue  # only a form post reaches it, from a page the agent cannot open
                    page.set_viewport_size(PHONE)
                    status = _open(page, demo_data, target)
                    expected = target.status.get(role, 200 if (target.agent or role == "admin") else 403)
                    label = f"{role}/{language} {target.name} ({page.url.removeprefix(demo_data.base)})"
                    if status is not None and status != expected:
                        problems.append(f"{label}: status {status}, expected {expected}")
                    problems += _problems(page, f"{label} @375", axe=True)
                    if language == "vi":
                        name = f"{role}-{target.name.replace(':', '-')}.png"
                        page.screenshot(path=str(output / name), full_page=True)
                    page.set_viewport_size(DESKTOP)
                    problems += _problems(page, f"{label} @1280", axe=True)
            context.close()
    (output / "problems.json").write_text(json.dumps(problems, ensure_ascii=False, indent=1))
    assert problems == [], "\n".join(problems)


def test_an_agent_sees_the_login_info_first_on_a_phone(demo_data):
    """What the agent came for is on the first screen, above the extension's details; and the
    extension list's first row is near the top of an admin's phone screen."""
    with chromium_browser() as browser:
        page = _signed_in(browser, demo_data.base, "agent", "agent")
        page.goto(f"{demo_data.base}/extensions/mine/")
        login_info = page.locator("#login-info").bounding_box()
        details = page.locator("#extension-details").bounding_box()
        assert login_info["y"] < details["y"]
        assert login_info["y"] < PHONE["height"] / 2
        page.click("#reveal-button")
        assert page.locator("#revealed-password").is_visible()
        assert page.locator("#revealed-password").bounding_box()["y"] < PHONE["height"]

        admin = _signed_in(browser, demo_data.base, "admin", "admin")
        admin.goto(f"{demo_data.base}/hotlines/{demo_data.hotline.pk}/extensions/")
        first_row = admin.locator("#extension-table tbody tr").first.bounding_box()
        assert first_row["y"] < PHONE["height"], first_row
        # The filters are one tap away ("Bộ lọc"), and they work.
        assert not admin.locator("#id_search").is_visible()
        admin.get_by_role("button", name="Bộ lọc").click()
        # As a person would: once the filters have finished unfolding (a tap on "Lọc" while they
        # still slide open can land on nothing, and then nothing is submitted).
        admin.locator("#extension-filters.collapse.show").wait_for()
        admin.fill("#id_search", "sale")
        with admin.expect_navigation():
            admin.locator("#extension-filters button[type=submit]").click()
        assert admin.locator("#extension-table tbody tr").count() == 1
        # The hotline list: each number on one line, every column on the screen.
        admin.goto(f"{demo_data.base}/hotlines/")
        for link in admin.locator("#hotline-table tbody td:first-child a").all():
            box = link.bounding_box()
            assert box["height"] < 30, box
        table = admin.locator("#hotline-table")
        assert table.evaluate("t => t.scrollWidth <= t.parentElement.clientWidth")


def test_the_audit_page_reads_as_people_speak_on_a_phone(demo_data):
    """The guide's edit, then its audit row at phone width: field labels and choice labels (not
    column names and codes), the extension's number, and local time in each language's one
    format."""
    with chromium_browser() as browser:
        page = _signed_in(browser, demo_data.base, "admin", "admin")
        page.goto(f"{demo_data.base}/extensions/{demo_data.extension.pk}/edit/")
        page.select_option("#id_call_permission", label="Quốc tế")
        with page.expect_navigation():
            page.locator("form button[type=submit]").last.click()
        now = timezone.localtime()  # Asia/Ho_Chi_Minh
        for language, label, when in (
            ("vi", "Quyền gọi", now.strftime("%d/%m/%Y")),
            ("en", "Call permission", f"{now.day} {now.strftime('%b %Y')}"),
        ):
            page.context.add_cookies([{"name": "django_language", "value": language, "url": demo_data.base}])
            page.goto(f"{demo_data.base}/audit/")
            text = page.locator("main").inner_text()
            assert label in text and "call_permission" not in text, text[:2000]
            assert ("Quốc tế" if language == "vi" else "International") in text
            assert when in text, text[:2000]
            assert re.search(r"\b\d{1,2}:\d\d\b", text)
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
