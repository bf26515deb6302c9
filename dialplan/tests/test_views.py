"""The dial check ("Kiểm tra quyền gọi") on the extension page."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from extensions.choices import CallPermission
from extensions.services import extension_update
from hotlines.numbering import format_vn_number


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
