"""Carrier gateways in the operator's admin and their services (no Kamailio: the state is
"unknown"; sip/tests/test_carriers.py runs them against a real one)."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.choices import Action
from audit.models import AuditEvent
from sip.choices import GatewayState
from sip.gateways import gateway_create, gateway_delete, gateway_first, gateway_update, parse_dispatcher_list
from sip.models import Gateway
from tenants.models import Tenant
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def new_tenant() -> Tenant:
    # factory_boy's call returns the model instance; its stubs say the factory.
    return TenantFactory()  # type: ignore[return-value]


FORM = {
    "name": "Viettel SBC",
    "tenant": "",
    "host": "sbc.viettel.example",
    "port": "5060",
    "transport": "udp",
    "priority": "1",
    "weight": "50",
    "caller_id_format": "e164",
    "enabled": "on",
}


def test_the_operator_adds_a_gateway_through_the_service(admin_client, monkeypatch, tmp_path):
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(tmp_path))  # no Kamailio there
    response = admin_client.post(reverse("admin:sip_gateway_add"), FORM)
    assert response.status_code == 302, response.content.decode()[:3000]
    gateway = Gateway.objects.get()
    assert (gateway.uri, gateway.set_id) == ("sip:sbc.viettel.example:5060", 1)
    event = AuditEvent.objects.get(action=Action.CREATE)
    assert event.changes["uri"] == [None, "sip:sbc.viettel.example:5060"]

    page = admin_client.get(reverse("admin:sip_gateway_changelist")).content.decode()
    assert 'data-gateway-state="unknown"' in page
    change = admin_client.get(reverse("admin:sip_gateway_change", args=[gateway.pk])).content.decode()
    assert "dispatcher set" in change.lower() or "nhóm điều phối" in change

    refused = admin_client.post(
        reverse("admin:sip_gateway_add"), {**FORM, "name": "Again", "priority": "1000"}
    )
    assert refused.status_code == 200
    assert Gateway.objects.count() == 1


def test_rules_and_order(monkeypatch, tmp_path):
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(tmp_path))
    tenant = new_tenant()
    with pytest.raises(ValidationError) as error:
        gateway_create(name="Bad", host="sbc.example:5060")
    assert "host" in error.value.message_dict
    provider = gateway_create(name="Provider", host="10.0.0.1", priority=1)
    own = gateway_create(name="Own", host="10.0.0.2", priority=3, tenant=tenant, transport="tcp")
    assert own.set_id == tenant.pk * 1000 + 3 and own.uri == "sip:10.0.0.2:5060;transport=tcp"
    with pytest.raises(ValidationError):
        gateway_create(name="Same address", host="10.0.0.1")
    assert gateway_first(tenant_id=tenant.pk) == own
    other = new_tenant()
    assert gateway_first(tenant_id=other.pk) == provider
    gateway_update(gateway=own, enabled=False)
    assert gateway_first(tenant_id=tenant.pk) == provider
    assert AuditEvent.objects.filter(action=Action.UPDATE, tenant_id=tenant.pk).exists()
    gateway_delete(gateway=provider)
    assert gateway_first(tenant_id=tenant.pk) is None


def test_dispatcher_list_is_read_per_gateway():
    output = """{
        NRSETS: 1
        RECORDS: {
            SET: {
                ID: 1
                TARGETS: {
                    DEST: {
                        URI: sip:127.0.0.61:5080
                        FLAGS: IP
                        PRIORITY: 999
                        ATTRS: {
                            BODY: rweight=50;cid=e164;gw=7
                        }
                    }
                    DEST: {
                        URI: sip:127.0.0.62:5080
                        FLAGS: AP
                        PRIORITY: 998
                        ATTRS: {
                            BODY: rweight=50;cid=national;gw=8
                        }
                    }
                }
            }
        }
    }"""
    states = parse_dispatcher_list(output)
    assert states[7].state == GatewayState.INACTIVE and states[7].probing
    assert states[8].state == GatewayState.ACTIVE and states[8].usable


def test_the_dial_check_names_the_gateway_tried_first_and_uses_its_format(monkeypatch, tmp_path):
    from dialplan.testing import install_vietnam_rules
    from sip.dialcheck import dial_check
    from tests.factories import HotlineFactory, make_extension

    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(tmp_path))
    install_vietnam_rules()
    caller = make_extension(HotlineFactory(number="19001234"), "101", "sale01")
    gateway_create(name="Provider SBC", host="10.0.0.1", caller_id_format="national")
    gateway_create(name="Own SBC", host="10.0.0.2", tenant=caller.hotline.tenant, caller_id_format="e164")

    caller_id = dial_check(extension=caller, dialled="0912345678").caller_id
    assert caller_id is not None
    assert (caller_id.gateway, caller_id.format, caller_id.number) == ("Own SBC", "e164", "+8419001234")
