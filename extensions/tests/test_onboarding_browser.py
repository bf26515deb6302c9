"""The onboarding sheet in a real browser (Debian's Chromium) under the strict CSP: ticked on
the list, confirmed, shown with its QR codes; printed, only the cards remain, none split over
a page break."""

import re

import pytest

from extensions.models import ProvisioningLink
from extensions.services import extension_range_create
from tests.browser import chromium_page
from tests.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

A4_HEIGHT_PX = 297 / 25.4 * 96  # the page's height in CSS pixels, margins included


def test_print_the_onboarding_sheet_of_a_team(live_server, world, tmp_path):
    hotline = world.hotline_a
    extension_range_create(hotline=hotline, first="200", last="216", alias_pattern="team{n}")
    with chromium_page() as page:
        problems = []
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and "Failed to load resource" not in m.text  # the favicon
                else None
            ),
        )
        sign_in(page, live_server.url, world.admin_a.username, "pw")
        page.goto(f"{live_server.url}/hotlines/{hotline.pk}/extensions/")
        page.locator(".js-select-all").check()
        page.locator("#onboarding-button").click()
        page.wait_for_selector("#onboarding-apply")
        page.locator("#onboarding-apply").click()
        page.wait_for_selector("#onboarding-cards")
        cards = page.locator(".onboarding-card")
        assert cards.count() == 20
        box = cards.first.locator(".onboarding-qr svg").bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100  # the QR code is drawn, sized
        assert not problems, problems  # no inline style or script refused by the CSP

        page.emulate_media(media="print")
        assert not page.locator("nav.navbar").is_visible()
        assert not page.locator("#onboarding-print").is_visible()
        heights = [cards.nth(i).bounding_box()["height"] for i in range(cards.count())]
        assert max(heights) < A4_HEIGHT_PX / 4.5, heights  # one a row, four or five to a page
        pdf = tmp_path / "sheet.pdf"
        page.pdf(path=str(pdf), format="A4", print_background=True)
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
        assert 4 <= pages <= 5, pages  # 20 cards, four or five to a page
    assert ProvisioningLink.objects.filter(extension__hotline=hotline).count() == 20
