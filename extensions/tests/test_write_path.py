"""One write path: every rule gives the same answer through every entry point that can express
it — the page's form, the API, range create, bulk edit and CSV import — and a disable signs the
phones out whichever way it is made."""

import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from extensions.models import Extension
from extensions.signals import extensions_disabled
from tests.api import api_client

pytestmark = pytest.mark.django_db

HEADER = (
    "number,alias,call_permission,supervisor,outbound_hotlines,outbound_groups,description,enabled,password"
)
LONG = "x" * 1001


@pytest.fixture
def page(client, world):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    return client


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _csv(page, world, line: str) -> str:
    data = f"{HEADER}\r\n{line}\r\n".encode()
    upload = page.post(
        reverse("extensions:extension_import", kwargs={"hotline_pk": world.hotline_a.pk}),
        {"file": SimpleUploadedFile("staff.csv", data, content_type="text/csv")},
    )
    assert upload.status_code == 302, _text(upload)[:500]
    preview = _text(page.get(upload.url))
    apply = page.post(upload.url.rstrip("/") + "/apply/", follow=True)
    return preview + _text(apply)


def _create_page(page, world, **fields) -> str:
    data = {"number": "150", "alias": "new150", "call_permission": 3, "description": "", "enabled": "on"}
    data.update(fields)
    response = page.post(reverse("extensions:extension_add", kwargs={"hotline_pk": world.hotline_a.pk}), data)
    return _text(response)


def _create_api(world, **fields) -> str:
    body = {"hotline": world.hotline_a.pk, "number": "150", "alias": "new150"}
    body.update(fields)
    response = api_client(world.admin_a).post("/api/v1/extensions/", body)
    assert response.status_code == 400, response.content
    return str(response.json())


def _range_page(page, world, **fields) -> str:
    data = {"first": "150", "last": "152", "alias_pattern": "r{n}", "call_permission": 3}
    data.update(fields)
    response = page.post(
        reverse("extensions:extension_add_range", kwargs={"hotline_pk": world.hotline_a.pk}), data
    )
    return _text(response)


def _edit_page(page, world, number: str, **fields) -> str:
    extension = world.ext_a[number]
    data = {
        "alias": extension.alias,
        "call_permission": extension.call_permission,
        "supervisor": extension.supervisor.number if extension.supervisor_id else "",
        "description": extension.description,
        "enabled": "on",
        "version": extension.version,
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    response = page.post(reverse("extensions:extension_edit", kwargs={"pk": extension.pk}), data)
    return _text(response)


def _patch_api(world, number: str, **fields) -> str:
    response = api_client(world.admin_a).patch(f"/api/v1/extensions/{world.ext_a[number].pk}/", fields)
    return str(response.json())


def _bulk_edit(page, world, numbers, **fields) -> str:
    data = {"step": "apply", "pk": [world.ext_a[n].pk for n in numbers]}
    data.update(fields)
    response = page.post(
        reverse("extensions:extension_bulk_edit", kwargs={"hotline_pk": world.hotline_a.pk}),
        data,
        follow=True,
    )
    return _text(response)


# rule → {entry point: how to break the rule there}; the expected message is the same for all.
RULES = {
    "description too long": (
        "Ensure this value has at most 1000 characters (it has 1001).",
        {
            "page": lambda page, w: _create_page(page, w, description=LONG),
            "api": lambda page, w: _create_api(w, description=LONG),
            "range": lambda page, w: _range_page(page, w, description=LONG),
            "csv": lambda page, w: _csv(page, w, f"150,new150,mobile,,,,{LONG},true,"),
        },
    ),
    "alias not ASCII": (
        "The alias has Vietnamese diacritics or other non-ASCII characters. An alias uses only "
        "letters without diacritics, digits, '.', '_' and '-', starts with a letter or a digit and "
        "is at most 32 characters long. For example: nguyen",
        {
            "page": lambda page, w: _create_page(page, w, alias="nguyễn"),
            "api": lambda page, w: _create_api(w, alias="nguyễn"),
            "range": lambda page, w: _range_page(page, w, alias_pattern="nguyễn{n}"),
            "csv": lambda page, w: _csv(page, w, "150,nguyễn,mobile,,,,,true,"),
        },
    ),
    "alias typed as a name": (
        "The alias has spaces; Vietnamese diacritics or other non-ASCII characters. An alias uses "
        "only letters without diacritics, digits, '.', '_' and '-', starts with a letter or a digit "
        "and is at most 32 characters long. For example: nguyen.van.ha",
        {
            "page": lambda page, w: _create_page(page, w, alias="Nguyễn Văn Hà"),
            "api": lambda page, w: _create_api(w, alias="Nguyễn Văn Hà"),
            "csv": lambda page, w: _csv(page, w, "150,Nguyễn Văn Hà,mobile,,,,,true,"),
        },
    ),
    "alias too long": (
        "The alias has 40 characters, more than 32.",
        {
            "page": lambda page, w: _create_page(page, w, alias="a" * 40),
            "api": lambda page, w: _create_api(w, alias="a" * 40),
            "range": lambda page, w: _range_page(page, w, alias_pattern="a" * 37 + "{n}"),
            "csv": lambda page, w: _csv(page, w, f"150,{'a' * 40},mobile,,,,,true,"),
        },
    ),
    "supervision cycle": (
        "This would make a supervision cycle (100 → 101 → 100).",
        {
            "page": lambda page, w: _edit_page(page, w, "100", supervisor="101"),
            "api": lambda page, w: _patch_api(w, "100", supervisor=w.ext_a["101"].pk),
            "bulk edit": lambda page, w: _bulk_edit(
                page, w, ["100"], supervisor_action="set", supervisor="101"
            ),
            "csv": lambda page, w: _csv(page, w, "100,,,101,,,,,"),
        },
    ),
    "password policy": (
        "The password must be at least 10 characters long.",
        {
            "page": lambda page, w: _create_page(page, w, password="Ab1"),
            "api": lambda page, w: _create_api(w, password="Ab1"),
            "csv": lambda page, w: _csv(page, w, "150,new150,mobile,,,,,true,Ab1"),
        },
    ),
}
CASES = [
    pytest.param(rule, entry, id=f"{rule}-{entry}")
    for rule, (_m, entries) in RULES.items()
    for entry in entries
]


def _state():
    return sorted(
        Extension.objects.values_list("number", "hotline_id", "alias", "supervisor_id", "description", "ha1")
    )


@pytest.mark.parametrize(("rule", "entry"), CASES)
def test_each_rule_gives_the_same_answer_through_every_entry_point(page, world, rule, entry):
    message, entries = RULES[rule]
    before = _state()
    answer = entries[entry](page, world)
    assert message in answer, answer[:3000]
    # One message per rule: the alias rule says the length itself, not the field's limit again.
    assert "Ensure this value has at most 32" not in answer
    assert _state() == before  # refused: nothing written


# A password pasted with the spaces around it: trimmed, as every other field, wherever it comes in.
PASTED = " \tTr0ng-Dong-Xanh-26 \n"
PASTED_PASSWORD = {
    "page": lambda page, w: _create_page(page, w, password=PASTED),
    "api": lambda page, w: api_client(w.admin_a).post(
        "/api/v1/extensions/",
        {"hotline": w.hotline_a.pk, "number": "150", "alias": "new150", "password": PASTED},
    ),
    "csv": lambda page, w: _csv(page, w, f'150,new150,mobile,,,,,true,"{PASTED}"'),
}


@pytest.mark.parametrize("entry", list(PASTED_PASSWORD))
def test_a_pasted_password_loses_the_spaces_around_it(page, world, entry):
    PASTED_PASSWORD[entry](page, world)
    created = Extension.objects.get(hotline=world.hotline_a, number="150")
    assert created.get_sip_password() == "Tr0ng-Dong-Xanh-26"


DISABLES = {
    "page": lambda page, w: _edit_page(page, w, "102", enabled=None),
    "api": lambda page, w: _patch_api(w, "102", enabled=False),
    "bulk edit": lambda page, w: _bulk_edit(page, w, ["102"], enabled="false"),
    "csv": lambda page, w: _csv(page, w, "102,,,,,,,false,"),
}


@pytest.mark.parametrize("entry", list(DISABLES))
def test_disabling_signs_the_phones_out_through_every_entry_point(
    page, world, entry, django_capture_on_commit_callbacks
):
    signed_out = []

    def receiver(sender, *, extensions, **kwargs):
        signed_out.extend(e.pk for e in extensions)

    extensions_disabled.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            DISABLES[entry](page, world)
    finally:
        extensions_disabled.disconnect(receiver)
    assert not Extension.objects.get(pk=world.ext_a["102"].pk).enabled
    assert signed_out == [world.ext_a["102"].pk]


def test_the_model_owns_the_description_limit(world):
    """A service called from a shell or a command cannot store more than the model allows."""
    from django.core.exceptions import ValidationError

    from extensions.services import extension_create

    with pytest.raises(ValidationError) as err:
        extension_create(hotline=world.hotline_a, number="151", alias="x151", description="y" * 2000)
    assert "at most 1000 characters" in str(err.value.message_dict["description"])
    assert not Extension.objects.filter(number="151").exists()
