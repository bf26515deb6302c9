"""Per-process template caching: {% cached_url %} gives exactly what {% url %} / reverse() gives
for every URL name the templates use, under a script prefix too, and refuses what reverse()
refuses; cached page fragments follow the hotline, the language and the role."""

import re
from pathlib import Path

import pytest
from django.template import engines
from django.urls import NoReverseMatch, clear_script_prefix, reverse, set_script_prefix

from core.templatetags.cached_urls import cached_reverse

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TAG = re.compile(r"\{% cached_url '([^']+)'((?: [\w.]+)*) %\}")


def template_url_names() -> set[tuple[str, int]]:
    """(view name, number of arguments) of every {% cached_url %} in the templates."""
    found = set()
    for path in TEMPLATES.rglob("*.html"):
        for name, args in TAG.findall(path.read_text()):
            found.add((name, len(args.split())))
    return found


def test_the_templates_use_cached_url_and_no_plain_url():
    names = template_url_names()
    assert len(names) >= 25
    plain = [p for p in TEMPLATES.rglob("*.html") if "{% url " in p.read_text()]
    assert plain == []


@pytest.mark.parametrize("prefix", ["/", "/pbx/"])
@pytest.mark.parametrize("args", [(1, 2), (7, 2147480001), (2147480002, 2147480001), (123456789, 5)])
def test_same_as_reverse_for_every_template_url(prefix, args):
    set_script_prefix(prefix)
    try:
        for name, count in sorted(template_url_names()):
            expected = reverse(name, args=args[:count])
            assert cached_reverse(name, *args[:count]) == expected, name
            assert expected.startswith(prefix)
    finally:
        clear_script_prefix()


@pytest.mark.parametrize("args", [("abc",), (-1,), (True,), (1.5,), (1, 2)])
def test_what_reverse_refuses_is_refused(args):
    with pytest.raises(NoReverseMatch):
        reverse("extensions:extension_detail", args=args)
    with pytest.raises(NoReverseMatch):
        cached_reverse("extensions:extension_detail", *args)


def test_the_tag_escapes_and_is_available_without_load():
    template = engines["django"].from_string("<a href=\"{% cached_url 'extensions:extension_detail' pk %}\">")
    assert template.render({"pk": 42}) == '<a href="/extensions/42/">'


@pytest.mark.django_db
def test_cached_page_fragments_follow_the_hotline_the_language_and_the_role(client, world):
    """The list page's toolbar, filter selects and table head and the navigation are template
    fragments kept per process ({% cache … using="fragments" %}); each must still show the
    current hotline's links, the chosen language and what the user's role may open."""
    client.force_login(world.admin_a)
    for hotline in (world.hotline_a, world.hotline_a2, world.hotline_a):
        url = reverse("extensions:extension_list", kwargs={"hotline_pk": hotline.pk})
        html = client.get(url).content.decode()
        assert f'href="/hotlines/{hotline.pk}/extensions/add/"' in html
        other = world.hotline_a2 if hotline == world.hotline_a else world.hotline_a
        assert f"/hotlines/{other.pk}/extensions/add/" not in html
    url = reverse("extensions:extension_list", kwargs={"hotline_pk": world.hotline_a.pk})
    vietnamese = client.get(url + "?call_permission=mobile").content.decode()
    client.cookies["django_language"] = "en"
    english = client.get(url + "?call_permission=mobile").content.decode()
    assert "Tạo máy lẻ" in vietnamese and "Tạo máy lẻ" not in english and "Create extension" in english
    assert '<option value="mobile" selected>' in english
    assert '<option value="mobile" selected>' not in client.get(url).content.decode()
    assert "Audit trail" in english
    client.force_login(world.agent_a)
    client.cookies["django_language"] = "en"
    agent = client.get(reverse("extensions:my_extension"), follow=True).content.decode()
    assert "My extension" in agent and "Audit trail" not in agent
