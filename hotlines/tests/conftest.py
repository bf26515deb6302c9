import pytest

from hotlines.signals import hotline_changed


@pytest.fixture
def hotline_signals():
    """The keyword arguments of every hotline_changed sent while the test runs."""
    received: list[dict] = []

    def receiver(sender, **kwargs):
        kwargs.pop("signal")
        received.append(kwargs)

    hotline_changed.connect(receiver, weak=False)
    yield received
    hotline_changed.disconnect(receiver)
