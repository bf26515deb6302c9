"""The dial check ("Kiểm tra quyền gọi") on the extension page."""

import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from extensions.choices import CallPermission
from extensions.services import extension_update
from hotlines.numbering import format_vn_number
from hotlines.services import schedule_create


def url(extension, number=None) -> str:
    path = reverse("extensions:extension_dial_check", kwargs={"pk": extension.pk})
    return f"{path}?{urlencode({'number': number})}" if number is not None else path


@pytest.fixture
def admin_client(client, world, vn_rules):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    return client


def test_the_extension_page_offers_the_check(admin_client, world):
    detail = reverse("extensions:extension_detail", kwargs={"pk": world.ext_a["101"].pk})
    html = admin_client.get(detail).content.decode()
    assert 'id="dial-check"' in html
    assert f'action="{url(world.ext_a["101"])}#dial-check"' in html


def _no_internals(html: str, rules) -> None:
    """No dial rule name, pattern or SIP reply on the page: it is for people."""
    for rule in [*rules.normalise_rules, *rules.classify_rules]:
        assert rule.pattern not in html, rule.pattern
        assert rule.description not in html, rule.description
        if not rule.name.isalpha():  # "mobile-vinaphone"; "mobile" is also a plain word
            assert rule.name not in html, rule.name
    assert "403 " not in html and "404 " not in html and "SIP" not in _summary(html)


def _summary(html: str) -> str:
    start = html.index('id="dial-check-summary"')
    return html[start : html.index("</div>", start)]


def test_an_allowed_number_says_what_it_is_why_and_which_caller_id(admin_client, world, vn_rules):
    response = admin_client.get(url(world.ext_a["101"], "0912 345 678"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "alert-success" in html
    caller_id = world.hotline_a.number
    assert (
        "0912 345 678 is a mobile number on VinaPhone; extension 101 may call it, because its call "
        f"permission “Mobile” includes it, and the callee sees {format_vn_number(caller_id)}."
    ) in _summary(html)
    assert "Caller ID shown" in html
    _no_internals(html, vn_rules)


def test_a_refused_number_says_which_permission_it_needs(admin_client, world, vn_rules):
    html = admin_client.get(url(world.ext_a["101"], "+1 202 555 0100")).content.decode()
    assert "alert-danger" in html
    assert (
        "is an international number; extension 101 may not call it, because that needs the "
        "“International” call permission and it has “Mobile”."
    ) in _summary(html)
    _no_internals(html, vn_rules)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("113", "113 is an emergency number; extension 101 may always call it"),
        ("102", "102 is an extension number of this hotline; extension 101 may call it"),
        ("109", "this hotline has no extension 109, so extension 101 cannot call it"),
        ("*33102", "*33102 is the code to supervise extension 102 (listen); extension 101 may not use it"),
        ("0123456", "is not a kind of number the switchboard knows"),
    ],
)
def test_every_kind_of_answer_is_one_plain_sentence(admin_client, world, vn_rules, number, expected):
    html = admin_client.get(url(world.ext_a["101"], number)).content.decode()
    summary = _summary(html)
    assert expected in summary, summary
    assert summary.count(". ") == 0  # one sentence
    _no_internals(html, vn_rules)


def test_the_sentence_is_vietnamese_on_a_vietnamese_page(client, world, vn_rules):
    client.force_login(world.admin_a)
    html = client.get(url(world.ext_a["101"], "0912 345 678")).content.decode()
    assert (
        "0912 345 678 là số di động mạng VinaPhone; máy lẻ 101 được gọi, vì quyền gọi “Di động” "
        "của máy bao gồm loại số này, và số hiện ở máy người nghe là"
    ) in _summary(html)
    refused = client.get(url(world.ext_a["101"], "0012025550100")).content.decode()
    assert (
        "là số quốc tế; máy lẻ 101 không được gọi, vì cần quyền gọi “Quốc tế” mà máy chỉ có “Di động”."
        in (_summary(refused))
    )
    _no_internals(refused, vn_rules)


def test_a_permission_change_shows_at_once(admin_client, world):
    extension = extension_update(
        extension=world.ext_a["101"], data={"call_permission": CallPermission.INTERNATIONAL}
    )
    assert "alert-success" in admin_client.get(url(extension, "0012025550100")).content.decode()


@pytest.mark.parametrize("number", ["", "abc", "0912<script>", "1" * 40])
def test_garbage_is_a_form_error(admin_client, world, number):
    response = admin_client.get(url(world.ext_a["101"], number))
    html = response.content.decode()
    assert response.status_code == 400
    assert "is-invalid" in html
    assert "0912<script>" not in html


def test_agents_check_their_own_extension_only(client, world, vn_rules):
    client.force_login(world.agent_a)
    assert client.get(url(world.ext_a["101"], "115")).status_code == 200
    assert client.get(url(world.ext_a["102"], "115")).status_code == 404


def test_other_tenants_and_anonymous(client, world, vn_rules):
    assert client.get(url(world.ext_a["101"], "115")).status_code == 302  # to sign in
    client.force_login(world.admin_b)
    assert client.get(url(world.ext_a["101"], "115")).status_code == 404


def test_without_the_sip_server_the_lock_state_is_said_unknown(admin_client, world, monkeypatch, tmp_path):
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(tmp_path))  # no control socket there
    html = admin_client.get(url(world.ext_a["101"], "0912 345 678")).content.decode()
    assert 'id="dial-check-lock-unknown"' in html
    assert "whether the extension is locked after wrong passwords is unknown" in html
    assert "alert-success" in html  # the check went on


def at_url(extension, number: str, moment: str) -> str:
    path = reverse("extensions:extension_dial_check", kwargs={"pk": extension.pk})
    return f"{path}?{urlencode({'number': number, 'at': moment})}"


@pytest.fixture
def office(world):
    """Extension 101 on an outbound schedule, weekdays 08:00–17:00."""
    schedule = schedule_create(
        tenant=world.tenant_a,
        name="Office",
        windows=[{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"}],
    )
    extension_update(extension=world.ext_a["101"], data={"outbound_schedule": schedule})
    return schedule


def _dd(html: str, id_: str) -> str:
    start = html.index(f'id="{id_}"')
    return re.sub(r"\s+", " ", html[html.index(">", start) + 1 : html.index("</dd>", start)])


@pytest.mark.parametrize("page", ["extensions:extension_detail", "extensions:extension_dial_check"])
def test_the_page_offers_a_moment_labelled_in_both_languages(admin_client, world, page):
    html = admin_client.get(reverse(page, kwargs={"pk": world.ext_a["101"].pk})).content.decode()
    assert '<label class="form-label small mb-1" for="dial-check-at">At</label>' in html
    assert 'type="datetime-local" name="at"' in html
    admin_client.cookies["django_language"] = "vi"
    html = admin_client.get(reverse(page, kwargs={"pk": world.ext_a["101"].pk})).content.decode()
    assert '<label class="form-label small mb-1" for="dial-check-at">Thời điểm</label>' in html


def test_a_moment_is_vietnam_time_and_the_schedule_says_when_it_opens(admin_client, world, office):
    # What the browser's datetime-local sends: no offset, so Vietnam's time.
    html = admin_client.get(at_url(world.ext_a["101"], "0912345678", "2025-03-07T17:00")).content.decode()
    assert "alert-danger" in html
    assert _dd(html, "dial-check-at-decided") == "Fri 07/03/2025 17:00:00"
    assert _dd(html, "dial-check-next-open").startswith("Mon 10/03/2025 08:00 ")
    assert "“Office”" in _dd(html, "dial-check-next-open")
    assert "may not call it now" in _summary(html)
    # The form keeps the moment asked for.
    assert 'value="2025-03-07T17:00"' in html

    html = admin_client.get(at_url(world.ext_a["101"], "0912345678", "2025-03-07T16:59:59")).content.decode()
    assert "alert-success" in html
    assert _dd(html, "dial-check-at-decided") == "Fri 07/03/2025 16:59:59"
    assert 'id="dial-check-next-open"' not in html
    # With an offset, as the API takes it: 10:00 UTC is 17:00 in Vietnam.
    html = admin_client.get(
        at_url(world.ext_a["101"], "0912345678", "2025-03-07T10:00:00+00:00")
    ).content.decode()
    assert _dd(html, "dial-check-at-decided") == "Fri 07/03/2025 17:00:00"
    assert "alert-danger" in html


def test_an_empty_moment_is_now(admin_client, world, office):
    response = admin_client.get(at_url(world.ext_a["101"], "0912345678", ""))
    assert response.status_code == 200
    html = response.content.decode()
    now = timezone.localtime()
    assert now.strftime("%d/%m/%Y") in _dd(html, "dial-check-at-decided")


@pytest.mark.parametrize(
    "moment",
    ["9999-12-31T20:00:00+07:00", "9999-12-31T20:00", "0001-01-01T00:00", "0001-01-01T00:00:00+08:00"],
)
def test_a_moment_outside_the_years_is_a_form_error(admin_client, world, office, moment):
    response = admin_client.get(at_url(world.ext_a["101"], "0912345678", moment))
    html = response.content.decode()
    assert response.status_code == 400
    assert "Choose a moment from the year 2000 to 2999." in html
    assert 'id="dial-check-at" step="1"\n               class="form-control is-invalid"' in html
    assert 'id="dial-check-summary"' not in html


def test_a_moment_that_is_no_moment_is_a_form_error_in_vietnamese(client, world, office):
    client.force_login(world.admin_a)
    response = client.get(at_url(world.ext_a["101"], "0912345678", "soon"))
    assert response.status_code == 400
    assert "is-invalid" in response.content.decode()
    response = client.get(at_url(world.ext_a["101"], "0912345678", "9999-12-31T20:00"))
    assert "Hãy chọn thời điểm từ năm 2000 đến năm 2999." in response.content.decode()
