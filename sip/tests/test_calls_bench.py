"""The calls bench (bench/calls_bench.py, `make bench-calls`) in miniature: two calls through the
session's Kamailio and rtpengine to a SIPp echo, so a change that breaks its counting or its
anchoring check fails here rather than printing wrong numbers. A few seconds each."""

import pytest

from bench.calls_bench import Account, SippEcho, run_round
from tests.factories import HotlineFactory, make_extension

pytestmark = pytest.mark.sip

CALLER_PASSWORD = "Bench-smoke-Caller7"
CALLEE_PASSWORD = "Bench-smoke-Callee7"


@pytest.fixture
def accounts(kamailio, dial_rules):
    hotline = HotlineFactory()
    domain = make_extension(hotline, "101", password=CALLER_PASSWORD).hotline.sip_domain
    make_extension(hotline, "102", password=CALLEE_PASSWORD)
    kamailio.reload_domains()
    return Account("101", domain, CALLER_PASSWORD), Account("102", domain, CALLEE_PASSWORD)


def echo_for(kamailio, callee: Account, directory, *, echo: bool = True) -> SippEcho:
    config = kamailio.config
    return SippEcho(
        directory,
        proxy=(config.listen_ip, config.sip_port),
        username=callee.username,
        domain=callee.domain,
        password=callee.password,
        echo=echo,
    )


def test_two_anchored_calls_carry_every_packet_both_ways(kamailio, rtpengine_server, accounts, tmp_path):
    caller, callee = accounts
    with echo_for(kamailio, callee, tmp_path / "sipp") as echo:
        result = run_round(
            kamailio=kamailio, relay=rtpengine_server, echoes=[echo], caller=caller, calls=2, seconds=1.0
        )

    assert (result.answered, result.anchored, result.hung_up, result.freed) == (2, 2, 2, 2), result
    assert result.sent == 2 * 50, result
    # Counted by sequence number as they came back, and by the relay on each of its legs.
    assert result.received == result.sent, result
    assert result.relay_from_caller == result.relay_from_callee == result.sent, result
    assert result.loss == 0 and result.ok, result
    assert result.rtpengine_cpu >= 0 and 0 <= result.machine_busy <= 1, result


def test_loss_is_counted_not_assumed(kamailio, rtpengine_server, accounts, tmp_path):
    """SIPp without its echo: the relay gets every packet from the caller, nothing comes back,
    and the bench says 100 % loss (located between the relay and the called extension)."""
    caller, callee = accounts
    with echo_for(kamailio, callee, tmp_path / "sipp", echo=False) as mute:
        result = run_round(
            kamailio=kamailio, relay=rtpengine_server, echoes=[mute], caller=caller, calls=2, seconds=1.0
        )

    assert result.anchored == 2 and result.freed == 2, result
    assert result.sent == 2 * 50 and result.received == 0, result
    assert result.loss == 1.0, result
    assert result.relay_from_caller == result.sent and result.relay_from_callee == 0, result
