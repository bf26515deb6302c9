"""The dashboard's dial check and Kamailio agree, number by number.

Hundreds of numbers — at least 60 of every destination class, in their +84 / 84 / 0084 / 0
spellings, short codes, feature codes and garbage — are dialled for real through Kamailio by
an extension of each call permission level, and checked with `sip.dialcheck.dial_check`.
For each, both must give the same decision: the same SIP answer, the same normalised number,
the same dial rule and class, and (when the call goes out) a caller ID the check allows.
"""

import random

import pytest

from dialplan.choices import DestinationClass, Outcome, RuleStage
from extensions.choices import CallPermission
from extensions.services import extension_reveal_credentials, extension_update
from hotlines.choices import Carrier, GroupStrategy
from hotlines.services import number_group_create
from sip.dialcheck import dial_check
from sip.kamailio import host_port
from sip.listen import NO_CALL_REASON
from sip.sipclient import SipClient
from tests.factories import HotlineFactory, make_extension

pytestmark = pytest.mark.sip

PER_CLASS = 60
MOBILE_PREFIXES = [
    "032",
    "039",
    "086",
    "096",
    "098",
    "031",
    "081",
    "085",
    "087",
    "088",
    "091",
    "094",
    "070",
    "076",
    "079",
    "089",
    "090",
    "093",
    "030",
    "051",
    "052",
    "056",
    "058",
    "092",
    "059",
    "099",
    "055",
    "050",
    "053",
    "080",
    "095",
]
COUNTRY_CODES = ["1", "7", "33", "44", "49", "61", "65", "66", "81", "82", "86", "855", "856", "886"]


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _spellings(rng: random.Random, national: str) -> str:
    """The national number or one of the international spellings of it."""
    form = rng.randrange(5)
    if form == 1:
        return "+84" + national[1:]
    if form == 2:
        return "0084" + national[1:]
    if form == 3 and national[1] in "235789":
        return "84" + national[1:]
    if form == 4:
        return "+84" + national  # +84 (0)…, written with the trunk 0
    return national


def numbers_by_class() -> dict[str, list[str]]:
    rng = random.Random(84)
    numbers: dict[str, list[str]] = {
        "emergency": ["113", "114", "115"] * (PER_CLASS // 3),
        "internal": ["100", "101", "102", "103"] * 3,
        "toll_free": [],
        "premium": [],
        "landline": [],
        "mobile": [],
        "international": [],
    }
    while len(numbers["internal"]) < PER_CLASS:
        candidate = _digits(rng, rng.randint(2, 6))
        if candidate not in ("113", "114", "115"):
            numbers["internal"].append(candidate)
    for _ in range(PER_CLASS):
        for key, prefix in (("toll_free", "1800"), ("premium", "1900")):
            service = prefix + _digits(rng, rng.choice((4, 6)))
            numbers[key].append(rng.choice([service, service, "+84" + service, "0084" + service]))
        numbers["landline"].append(_spellings(rng, "02" + _digits(rng, 9)))
        numbers["mobile"].append(_spellings(rng, rng.choice(MOBILE_PREFIXES) + _digits(rng, 7)))
        country = rng.choice(COUNTRY_CODES)
        rest = _digits(rng, rng.randint(6, 10))
        numbers["international"].append(rng.choice(["00", "+"]) + country + rest)
    garbage = [
        "0",
        "1",
        "00",
        "+",
        "+84",
        "+8412",
        "0084",
        "84",
        "8491234567",
        "091234567",
        "09123456789",
        "0212345678",
        "021234567890",
        "1800123",
        "19001234567",
        "116",
        "1080",
        "0412345678",
        "0612345678",
        "0012",
        "+0912345678",
        "++84912345678",
        "abc",
        "sale01",
        "0912345678a",
        "12a34",
        "*",
        "*99",
        "*3310",
        "*33102",
        "*34102",
        "*35102",
        "*35",
        "*3",
        "**33101",
        "0084084",
        "840912345678",
        "+1",
        "+8",
        "x" * 20,
        "9" * 20,
        "0" * 12,
    ]
    while len(garbage) < PER_CLASS:
        garbage.append(_digits(rng, rng.choice((1, 7, 9, 12, 13, 16, 17))))
    numbers["garbage"] = garbage
    return numbers


NUMBERS = numbers_by_class()


def test_every_class_has_enough_numbers():
    """The sample itself: ≥ 60 numbers per class (garbage included)."""
    assert all(len(values) >= PER_CLASS for values in NUMBERS.values()), {
        key: len(values) for key, values in NUMBERS.items()
    }


@pytest.fixture
def callers(kamailio):
    """One extension per call permission level on a hotline, with a same-carrier pool; the
    first (101) supervises the second (102), so supervisor codes are decided both ways."""
    hotline = HotlineFactory(number="19006600", carrier=Carrier.VIETTEL)
    pool = [
        HotlineFactory(tenant=hotline.tenant, number=n) for n in ("0981111111", "0912222222", "0903333333")
    ]
    group = number_group_create(
        tenant=hotline.tenant, name="Out", strategy=GroupStrategy.SAME_CARRIER, hotlines=pool
    )
    kamailio.reload_domains()
    extensions = {
        level: make_extension(
            hotline, str(100 + level), f"level{level}", call_permission=level, outbound_groups=[group]
        )
        for level in CallPermission
    }
    extension_update(
        extension=extensions[CallPermission.LANDLINE],
        data={"supervisor": extensions[CallPermission.INTERNAL]},
    )
    return extensions


def kamailio_decision(phone: SipClient, info, number: str, gateway) -> tuple:
    """What Kamailio did: the answer, and how it read the number (X-PBX-Dial)."""
    before_gateway = len(gateway.invites)
    result = phone.invite(number=number, domain=info.domain, username=info.username, password=info.password)
    if len(gateway.invites) > before_gateway:
        invite = gateway.invites[-1]
        dial = invite.params("x-pbx-dial")
        return (
            "gateway",
            dial.get("number"),
            dial.get("rule"),
            dial.get("class"),
            invite.header_user("p-asserted-identity"),
        )
    dial = dict(
        part.split("=", 1) for part in (result.response.header("x-pbx-dial") or "").split(";") if "=" in part
    )
    return (
        f"{result.status} {result.response.reason}",
        dial.get("number", ""),
        dial.get("rule", ""),
        dial.get("class", ""),
        "",
    )


def python_decision(check) -> tuple:
    if check.outcome == Outcome.MEDIA_SERVER:
        # The listen service's answer: nobody is in a call in this test.
        return (f"480 {NO_CALL_REASON}", "", "", "", "")
    rule = check.rule.name if check.rule else ("none" if check.classification else "")
    number = check.number if check.classification else ""
    if check.outcome == Outcome.GATEWAY:
        return ("gateway", number, rule, check.destination, check.caller_id.candidates)
    reply = check.sip_reply
    if check.outcome == Outcome.EXTENSION:
        reply = "480 Temporarily Unavailable"  # none of them is registered in this test
    return (reply, number, rule, check.destination, "")


@pytest.mark.parametrize("level", list(CallPermission), ids=lambda level: level.slug)
def test_python_and_kamailio_decide_the_same(kamailio, dial_rules, gateway, callers, level):
    caller = callers[level]
    info = extension_reveal_credentials(extension=caller)
    host, port = host_port(info.proxy, 5060)
    disagreements, seen = [], {}
    with SipClient(host, port) as phone:
        for expected_class, numbers in NUMBERS.items():
            for number in numbers:
                check = dial_check(extension=caller, dialled=number, rules=dial_rules)
                ours = python_decision(check)
                theirs = kamailio_decision(phone, info, number, gateway)
                caller_id_ok = True
                if ours[0] == "gateway":
                    caller_id_ok = theirs[4] in ours[4]
                    ours, theirs = ours[:4], theirs[:4]
                if ours != theirs or not caller_id_ok:
                    disagreements.append((number, ours, theirs))
                seen.setdefault(expected_class, set()).add(check.destination or check.outcome)
    assert disagreements == []
    if level == CallPermission.INTERNAL:
        # 101 supervises 102: listening (to the listen service) and whisper/barge (501) compared.
        assert {Outcome.MEDIA_SERVER, Outcome.NOT_AVAILABLE} <= seen["garbage"], seen["garbage"]
    # The sample really covers the classes it is named after.
    for destination in DestinationClass:
        assert destination in seen[destination.value], (destination, seen[destination.value])


# --- The pattern subset: what Django accepts, Kamailio compiles and matches the same way ------


def _random_pattern(rng: random.Random, depth: int = 0) -> str:
    atoms = [
        lambda: rng.choice("0123456789"),
        lambda: r"\d",
        lambda: ".",
        lambda: "[0-9]",
        lambda: "[^5]",
        lambda: "[1-3]",
        lambda: "[+*]",
        lambda: r"\+",
        lambda: r"\*",
    ]
    if depth < 2:
        atoms += [
            lambda: "(" + _random_pattern(rng, depth + 1) + ")",
            lambda: "(?:" + _random_pattern(rng, depth + 1) + "|" + _random_pattern(rng, depth + 1) + ")",
        ]
    quantifiers = ["", "", "", "?", "*", "+", "{2}", "{1,}", "{1,3}", "??", "*?", "+?", "{0,2}?"]
    body = "".join(rng.choice(atoms)() + rng.choice(quantifiers) for _ in range(rng.randint(1, 4)))
    if depth == 0:
        body = rng.choice(["", "^"]) + body + rng.choice(["", "$"])
    return body


def _samples(rng: random.Random) -> list[str]:
    alphabet = "0123456789+*"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(6)] + [
        "5",
        "12",
        "+84",
        "*33",
    ]


def test_patterns_django_accepts_compile_and_match_the_same_in_kamailio(kamailio):
    """Random patterns from the accepted subset, one at a time: Kamailio loads each, and for
    sample numbers `dialplan.translate` matches exactly when Python's `re.search` does."""
    from django.core.exceptions import ValidationError

    from dialplan.models import DialRule
    from dialplan.validators import compile_pattern, validate_rule_pattern
    from sip.kamailio import KamailioError

    rng = random.Random(5060)
    DialRule.objects.all().delete()
    rule = DialRule.objects.create(
        name="fuzz", stage=RuleStage.CLASSIFY, priority=1, pattern="^0$", destination="landline"
    )
    mismatches, tried, matched = [], 0, 0
    while tried < 60:
        pattern = _random_pattern(rng)
        try:
            validate_rule_pattern(pattern)
        except ValidationError:
            continue
        tried += 1
        DialRule.objects.filter(pk=rule.pk).update(pattern=pattern)
        kamailio.reload_dialplan()  # fails if Kamailio cannot compile it
        for sample in _samples(rng):
            try:
                kamailio.rpc("dialplan.translate", str(RuleStage.CLASSIFY), f"s:{sample}")
                theirs = True
            except KamailioError:
                theirs = False
            ours = bool(compile_pattern(pattern).search(sample))
            if ours != theirs:
                mismatches.append((pattern, sample, ours, theirs))
            matched += theirs
    assert mismatches == []
    assert 30 < matched < 570  # both matches and misses were compared


# --- Times and limits: the controls on calls out decide the same on both sides ----------------


def _window_around_now(open_: bool) -> list[dict]:
    """Windows relative to Vietnam's now: the half hour around it (open), or every day but
    today (closed). Waits out the last 90 s before midnight, where "today" would change."""
    from django.utils import timezone

    from hotlines.schedules import TIME_ZONE, format_minute

    now = timezone.now().astimezone(TIME_ZONE)
    if (left := 86400 - (now.hour * 3600 + now.minute * 60 + now.second)) < 90:
        import time

        time.sleep(left + 1)
        now = timezone.now().astimezone(TIME_ZONE)
    if open_:
        minute = now.hour * 60 + now.minute
        return [
            {
                "days": [now.weekday()],
                "start": format_minute(max(0, minute - 30)),
                "end": format_minute(min(1440, minute + 30)),
            }
        ]
    return [{"days": [d for d in range(7) if d != now.weekday()], "start": "00:00", "end": "24:00"}]


# A few numbers of every class (calls out through the carrier are counted, so not hundreds).
CONTROL_SAMPLE = [number for values in NUMBERS.values() for number in values[:6]]


@pytest.mark.parametrize("situation", ["closed", "open", "per_minute", "per_day"])
def test_python_and_kamailio_agree_on_schedules_and_limits(kamailio, dial_rules, gateway, callers, situation):
    """The same numbers, by the mobile-level caller, outside and inside its schedule (windows
    relative to now) and under call limits: before each call, the dial check (reading
    Kamailio's counters) predicts the answer; every call out let through counts."""
    from hotlines.services import schedule_create

    caller = callers[CallPermission.MOBILE]
    tenant = caller.hotline.tenant
    situations: dict[str, dict] = {
        "closed": {
            "outbound_schedule": schedule_create(tenant=tenant, name="c", windows=_window_around_now(False))
        },
        "open": {
            "outbound_schedule": schedule_create(tenant=tenant, name="o", windows=_window_around_now(True))
        },
        "per_minute": {"max_calls_per_minute": 4},
        "per_day": {"max_calls_per_day": 7},
    }
    caller = extension_update(extension=caller, data=situations[situation])
    info = extension_reveal_credentials(extension=caller)
    host, port = host_port(info.proxy, 5060)
    disagreements, decided_by = [], []
    with SipClient(host, port) as phone:
        for number in CONTROL_SAMPLE:
            check = dial_check(
                extension=caller, dialled=number, rules=dial_rules, kamailio_config=kamailio.config
            )
            ours = python_decision(check)
            theirs = kamailio_decision(phone, info, number, gateway)
            if ours[0] == "gateway":
                ok = theirs[4] in ours[4]
                ours, theirs = ours[:4], theirs[:4]
            else:
                ok = True
            if ours != theirs or not ok:
                disagreements.append((number, ours, theirs))
            decided_by.append(check.decided_by)
    assert disagreements == []
    # The situation really decided some calls (and emergency numbers never).
    expected = {"closed": "schedule", "open": None, "per_minute": "limit", "per_day": "limit"}[situation]
    if expected:
        assert decided_by.count(expected) >= 5, decided_by
    else:
        assert "schedule" not in decided_by and "limit" not in decided_by
