import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from extensions.models import Extension
from extensions.passwords import digest_ha1
from tests.factories import HotlineFactory, make_extension

pytestmark = pytest.mark.django_db


def test_rotate_sip_keys_reencrypts_under_the_newest_key(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SIP_ENCRYPTION_KEYS = [old_key]
    hotline = HotlineFactory()
    passwords = {make_extension(hotline, str(n)).pk: None for n in range(100, 110)}
    for ext in Extension.objects.filter(pk__in=passwords):
        passwords[ext.pk] = ext.get_sip_password()
    settings.SIP_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_sip_keys", stdout=out)
    assert "Re-encrypted 10" in out.getvalue()
    settings.SIP_ENCRYPTION_KEYS = [new_key]  # the old key is gone now
    for ext in Extension.objects.filter(pk__in=passwords).select_related("hotline"):
        password = ext.get_sip_password()
        assert password == passwords[ext.pk]
        assert ext.ha1 == digest_ha1(ext.number, ext.hotline.sip_domain, password)
