"""The operator sees registrations in the Django admin, and cannot edit what Kamailio owns."""

from django.urls import reverse

from .test_selectors import add_contact


def test_location_admin_lists_registrations_read_only(admin_client, db):
    add_contact(("101", "19001234.sip.example.vn"), user_agent="Zoiper 5")

    page = admin_client.get(reverse("admin:sip_location_changelist"))

    assert page.status_code == 200
    assert "19001234.sip.example.vn" in page.content.decode()
    assert admin_client.get(reverse("admin:sip_location_add")).status_code == 403
