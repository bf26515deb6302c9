"""The history's hand-built rows: the same dates as Django's `date` filter, every value escaped."""

import datetime as dt

import pytest
from django.utils import dateformat, formats, translation

from sip.call_tables import call_rows, date_formatter

MOMENTS = [dt.datetime(2026, m, d, h, 7, 9) for m, d, h in [(1, 2, 0), (5, 31, 9), (12, 9, 23)]]


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("fmt", ["SHORT_DATETIME_FORMAT", "j M Y H:i:s", "d/m/y G\\h i", "N jS {Y}"])
def test_date_formatter_matches_djangos_date_filter(language, fmt):
    with translation.override(language):
        fmt = formats.get_format(fmt) if fmt.isupper() else fmt
        short = date_formatter(fmt)
        assert [short(m) for m in MOMENTS] == [dateformat.format(m, fmt) for m in MOMENTS]


def test_rows_escape_what_the_database_holds():
    row = {
        "id": 1,
        "started_at": dt.datetime(2026, 12, 2, 7, 0, tzinfo=dt.UTC),
        "caller": "<b>101</b>",
        "callee": "0912&345",
        "direction": "outbound",
        "caller_id": "",
        "disposition": "refused",
        "sip_code": 403,
        "reason": 'Call permission: "international" <required>',
        "ended_at": None,
        "duration": 0,
    }
    with translation.override("vi"):
        html = call_rows([row])
    assert "&lt;b&gt;101&lt;/b&gt;" in html and "0912&amp;345" in html and "<b>" not in html
    assert "403 Call permission: &quot;international&quot; &lt;required&gt;" in html
    assert "14:00 02/12/2026" in html or "02/12/2026 14:00" in html  # Asia/Ho_Chi_Minh
    assert "—" in html  # no caller ID
