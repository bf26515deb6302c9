"""The dial check (“Kiểm tra quyền gọi”).

The dial check answers "what would the SIP server do if this extension dialled this number?"
with the same rules (`classifier`), the same views (`sip.selectors`) and the same order of
decisions as route[AUTH_GUARD] and route[CALL] in deploy/kamailio/kamailio.cfg:

0. an extension locked after too many wrong passwords (Kamailio's `extlock`, read over its
   control socket when `at` is now, see sip.protection) is refused everything (403); when
   Kamailio does not answer, the lock state is unknown (`lock_state`) and the check goes on;
1. `*33`/`*34`/`*35` + an extension: supervision, allowed only for that extension's supervisor
   (403); `*33` (listen) goes to the listen service, `*34` whisper and `*35` barge are 501 (the
   media relay cannot mix audio; see sip.listen);
2. normalise, then classify; no classify rule → 404;
3. a class above the extension's call permission → 403 (emergency is never above it);
4. internal: the extension must exist on the caller's hotline (404 otherwise), then its phones;
5. anything else goes to the carrier gateway, except emergency numbers only when the controls
   (route[OUTBOUND_CONTROLS]) allow it at `at`: the outbound schedule (403 outside it, with the
   next time it opens), then the calls per minute and per day (403 at the limit; the counters
   are Kamailio's, read over its control socket when `at` is now); the maximum call length is
   shown. The caller ID comes from the extension's pool, in the format of the carrier gateway
   the call tries first (sip.gateways.gateway_first; without gateways in the dashboard,
   SIP_GATEWAY_CALLER_ID_FORMAT).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dialplan.choices import FEATURE_CODES, DestinationClass, Outcome, SuperviseMode
from dialplan.classifier import Classification, RuleSet
from extensions.choices import CallPermission
from extensions.models import Extension
from hotlines.choices import Carrier, GroupStrategy
from hotlines.models import Schedule
from hotlines.numbering import caller_id_for_carrier, format_vn_number
from hotlines.schedules import TIME_ZONE, validate_moment

from .choices import LockKind
from .controls import CallCounters, CountersUnavailable, call_counters
from .gateways import gateway_first
from .kamailio import KamailioConfig
from .listen import BARGE_REASON, WHISPER_REASON
from .protection import REPLIES, Lock, extension_lock
from .selectors import caller_id_pool, is_subscriber, supervises

# Supervisor feature codes, as route[CALL] in kamailio.cfg matches them: *33 + extension.
FEATURE_CODE_RE = re.compile(r"^\*(3[345])([0-9]{2,6})$")
# What route[SUPERVISE] answers whisper and barge (the reasons come from sip.listen).
UNAVAILABLE_MODES = {
    SuperviseMode.WHISPER: f"501 {WHISPER_REASON}",
    SuperviseMode.BARGE: f"501 {BARGE_REASON}",
}


# --- Dial check --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallerIdChoice:
    """The number the carrier would see as caller: certain for `first` and for
    `same_carrier` with a number on the callee's carrier; otherwise one of the pool."""

    strategy: str
    pool: tuple[str, ...]
    number: str | None = None
    format: str = "national"  # how the carrier is sent it (the gateway's caller-ID format)
    gateway: str = ""  # the name of the gateway the call tries first ("": SIP_GATEWAY_URI)

    @property
    def candidates(self) -> tuple[str, ...]:
        return (self.number,) if self.number else self.pool

    @property
    def strategy_label(self) -> str:
        return GroupStrategy(self.strategy).label if self.strategy in GroupStrategy.values else ""


DECIDED_BY_PERMISSION = "permission"
DECIDED_BY_SCHEDULE = "schedule"
DECIDED_BY_LIMIT = "limit"
DECIDED_BY_LOCK = "lock"
LOCK_REPLY = REPLIES[LockKind.EXTENSION]  # route[AUTH_GUARD]
# Counters describe the present: a check for another moment does not apply them.
COUNTERS_NOW_SECONDS = 5


def _local(moment: dt.datetime) -> str:
    return formats.date_format(moment.astimezone(TIME_ZONE), "D d/m/Y H:i")


@dataclass(frozen=True)
class Controls:
    """What route[OUTBOUND_CONTROLS] looks at for one call out through the carrier."""

    schedule: Schedule | None  # the extension's, else its hotline's; None: always open
    schedule_source: str  # "extension" or "hotline" ("" without a schedule)
    open: bool
    next_open: dt.datetime | None  # when closed: when it opens next (None: never)
    closes_at: dt.datetime | None  # when open: when it closes
    max_calls_per_minute: int | None
    max_calls_per_day: int | None
    max_call_seconds: int | None
    counters: CallCounters | None = None  # read from Kamailio (None: not read or unavailable)
    counters_error: str = ""
    refused_by: str = ""  # "minute" or "day" when a limit refuses the call

    def schedule_reason(self) -> str:
        name = self.schedule.name if self.schedule else ""
        if self.next_open is None:
            return _("Refused: outside the outbound schedule “%(name)s”, which never opens.") % {"name": name}
        return _("Refused: outside the outbound schedule “%(name)s”; it opens at %(next)s.") % {
            "name": name,
            "next": _local(self.next_open),
        }

    def limit_reason(self) -> str:
        counters = self.counters
        if self.refused_by == "minute" and counters is not None:
            frees = counters.minute_frees_at(self.max_calls_per_minute or 0)
            return _(
                "Refused: %(count)d calls out in the last 60 seconds, the limit is %(limit)d per minute; "
                "the next call is possible at %(time)s."
            ) % {
                "count": counters.last_minute,
                "limit": self.max_calls_per_minute,
                "time": _local(frees) if frees else "",
            }
        return _("Refused: %(count)d calls out today, the limit is %(limit)d per day.") % {
            "count": counters.today if counters else 0,
            "limit": self.max_calls_per_day,
        }

    @property
    def sip_reply(self) -> str:
        if not self.open:
            return "403 Outside the outbound schedule"
        if self.refused_by == "minute":
            return f"403 Call limit: {self.max_calls_per_minute} calls per minute"
        if self.refused_by == "day":
            return f"403 Call limit: {self.max_calls_per_day} calls per day"
        return ""


def outbound_controls(
    *, extension: Extension, at: dt.datetime, kamailio_config: KamailioConfig | None = None
) -> Controls:
    """The schedule at `at` and the limits (with Kamailio's counters when `at` is now)."""
    schedule = extension.outbound_schedule or extension.hotline.outbound_schedule
    source = "extension" if extension.outbound_schedule_id else ("hotline" if schedule else "")
    if schedule is not None:
        hours = schedule.open_hours()
        is_open = hours.is_open(at)
        next_open = None if is_open else hours.next_open(at)
        closes_at = hours.closes_at(at) if is_open else None
    else:
        is_open, next_open, closes_at = True, None, None
    per_minute, per_day = extension.max_calls_per_minute, extension.max_calls_per_day
    counters, error, refused_by = None, "", ""
    if (
        is_open
        and (per_minute or per_day)
        and abs((at - timezone.now()).total_seconds()) <= COUNTERS_NOW_SECONDS
    ):
        try:
            counters = call_counters(extension=extension, config=kamailio_config, now=at.timestamp())
        except CountersUnavailable as exc:
            error = str(exc)
        if counters is not None:
            if per_minute and counters.last_minute >= per_minute:
                refused_by = "minute"
            elif per_day and counters.today >= per_day:
                refused_by = "day"
    return Controls(
        schedule=schedule,
        schedule_source=source,
        open=is_open,
        next_open=next_open,
        closes_at=closes_at,
        max_calls_per_minute=per_minute,
        max_calls_per_day=per_day,
        max_call_seconds=extension.max_call_seconds,
        counters=counters,
        counters_error=error,
        refused_by=refused_by,
    )


@dataclass(frozen=True)
class DialCheck:
    """What the SIP server does when `extension` dials `dialled`."""

    extension: Extension
    dialled: str
    outcome: str
    sip_reply: str  # e.g. "403 Call permission: mobile required"; "" when the call goes on
    classification: Classification | None = None
    required_permission: CallPermission | None = None
    caller_id: CallerIdChoice | None = None
    target: str = ""  # the extension called, or the one supervised
    supervise_mode: str = ""
    at: dt.datetime | None = None  # the moment decided for
    decided_by: str = ""  # what refused it: permission, schedule, limit (empty when allowed)
    controls: Controls | None = None  # for calls out through the carrier (not emergency)
    lock: Lock | None = None  # the wrong-password lock that refuses it
    lock_state: str = ""  # "locked", "unlocked", "unknown" (Kamailio did not answer); "" not read

    @property
    def schedule(self) -> Schedule | None:
        return self.controls.schedule if self.controls else None

    @property
    def allowed(self) -> bool:
        return self.outcome in (Outcome.EXTENSION, Outcome.GATEWAY, Outcome.MEDIA_SERVER)

    @property
    def rule(self):
        return self.classification.rule if self.classification else None

    @property
    def destination(self) -> str:
        return self.classification.destination if self.classification else ""

    @property
    def destination_label(self) -> str:
        return DestinationClass(self.destination).label if self.destination else ""

    @property
    def supervise_label(self) -> str:
        return SuperviseMode(self.supervise_mode).label if self.supervise_mode else ""

    @property
    def number(self) -> str:
        """The number after normalisation (what the gateway is sent)."""
        return self.classification.number if self.classification else self.dialled

    @property
    def summary(self) -> str:
        """The decision in one plain sentence (see `summary`)."""
        return summary(self)

    @property
    def reason(self) -> str:
        """The decision in words, for the dashboard and the API."""
        if self.outcome == Outcome.MEDIA_SERVER:
            return _(
                "Allowed: listens to the current call of extension %(target)s (both sides); "
                "480 when it is in no call."
            ) % {"target": self.target}
        if self.outcome == Outcome.NOT_AVAILABLE:
            return _(
                "Not available: %(mode)s needs the supervisor's voice mixed into the call, which the "
                "media relay (rtpengine 10.5) cannot do."
            ) % {"mode": SuperviseMode(self.supervise_mode).label}
        if self.supervise_mode:
            return _("Refused: this extension is not the supervisor of extension %(target)s.") % {
                "target": self.target
            }
        if self.decided_by == DECIDED_BY_LOCK and self.lock:
            return _("Refused: the extension is locked after too many wrong passwords, until %(time)s.") % {
                "time": _local(self.lock.until)
            }
        if self.decided_by == DECIDED_BY_SCHEDULE and self.controls:
            return self.controls.schedule_reason()
        if self.decided_by == DECIDED_BY_LIMIT and self.controls:
            return self.controls.limit_reason()
        if self.outcome == Outcome.DENIED and self.required_permission is not None:
            return _("Refused: this needs the “%(needed)s” call permission; the extension has “%(has)s”.") % {
                "needed": self.required_permission.label,
                "has": CallPermission(self.extension.call_permission).label,
            }
        if self.outcome == Outcome.DENIED:
            return _("Refused: the extension or its hotline is disabled.")
        if self.outcome == Outcome.NOT_FOUND and self.destination == DestinationClass.INTERNAL:
            return _("Not found: there is no extension %(number)s on this hotline.") % {"number": self.number}
        if self.outcome == Outcome.NOT_FOUND:
            return _("Not found: no dial rule knows this number.")
        if self.outcome == Outcome.EXTENSION:
            return _("Allowed: rings extension %(number)s.") % {"number": self.target}
        if self.destination == DestinationClass.EMERGENCY:
            return _("Allowed: emergency numbers are always allowed.")
        if self.controls and self.controls.max_call_seconds:
            return _(
                "Allowed: goes out through the carrier; the call is ended after %(seconds)d seconds."
            ) % {"seconds": self.controls.max_call_seconds}
        return _("Allowed: goes out through the carrier.")


# What kind of number each destination class is, as the one-sentence summary says it.
KIND_OF_NUMBER = {
    DestinationClass.INTERNAL: gettext_lazy("an extension number"),
    DestinationClass.EMERGENCY: gettext_lazy("an emergency number"),
    DestinationClass.LANDLINE: gettext_lazy("a landline number"),
    DestinationClass.TOLL_FREE: gettext_lazy("a toll-free 1800 number"),
    DestinationClass.MOBILE: gettext_lazy("a mobile number"),
    DestinationClass.PREMIUM: gettext_lazy("a premium-rate 1900 number"),
    DestinationClass.INTERNATIONAL: gettext_lazy("an international number"),
}


def _shown_number(number: str) -> str:
    return format_vn_number(number) if number.isdigit() else number


def _kind(check: DialCheck) -> str:
    kind = str(KIND_OF_NUMBER.get(check.destination, check.destination_label))  # type: ignore[call-overload]
    carrier = check.classification.carrier if check.classification else ""
    if carrier in Carrier.values:
        kind = _("%(kind)s on %(carrier)s") % {"kind": kind, "carrier": Carrier(carrier).label}
    return kind


def _caller_id(choice: CallerIdChoice | None) -> str:
    if choice is None or not choice.candidates:
        return str(_("the hotline's number"))
    if choice.number:
        return _shown_number(choice.number)
    return _("one of %(numbers)s (%(strategy)s)") % {
        "numbers": ", ".join(_shown_number(n) for n in choice.candidates),
        "strategy": str(choice.strategy_label).lower() if choice.strategy_label else "",
    }


def summary(check: DialCheck) -> str:
    """The check in one plain sentence: which kind of number it is, whether the extension may
    call it, why, and which caller ID the callee would see. No dial rule names or patterns: the
    page is for people, the API keeps the technical fields."""
    ext = check.extension.number
    number = _shown_number(check.number)
    if check.decided_by == DECIDED_BY_LOCK and check.lock:
        return _(
            "Extension %(ext)s cannot call anyone now: it is locked after too many wrong "
            "passwords, until %(time)s."
        ) % {"ext": ext, "time": _local(check.lock.until)}
    if check.supervise_mode:
        values = {
            "code": check.dialled,
            "mode": str(check.supervise_label).lower(),
            "target": check.target,
            "ext": ext,
        }
        if check.allowed:
            return (
                _(
                    "%(code)s is the code to supervise extension %(target)s (%(mode)s); extension "
                    "%(ext)s may use it because it is that extension's supervisor."
                )
                % values
            )
        return (
            _(
                "%(code)s is the code to supervise extension %(target)s (%(mode)s); extension "
                "%(ext)s may not use it because it is not that extension's supervisor."
            )
            % values
        )
    if check.decided_by in (DECIDED_BY_SCHEDULE, DECIDED_BY_LIMIT) and check.controls:
        return _("%(number)s is %(kind)s; extension %(ext)s may not call it now. %(reason)s") % {
            "number": number,
            "kind": _kind(check),
            "ext": ext,
            "reason": check.reason,
        }
    if check.outcome == Outcome.DENIED and check.required_permission is None:
        return _("Extension %(ext)s cannot call anyone: the extension or its hotline is disabled.") % {
            "ext": ext
        }
    if check.classification is None or check.rule is None:
        return _(
            "%(number)s is not a kind of number the switchboard knows, so extension %(ext)s "
            "cannot call it; check the digits."
        ) % {"number": number, "ext": ext}
    values = {
        "number": number,
        "kind": _kind(check),
        "ext": ext,
        "has": str(CallPermission(check.extension.call_permission).label),
        "needed": str(check.required_permission.label) if check.required_permission else "",
    }
    if check.outcome == Outcome.DENIED:
        return (
            _(
                "%(number)s is %(kind)s; extension %(ext)s may not call it, because that needs "
                "the “%(needed)s” call permission and it has “%(has)s”."
            )
            % values
        )
    if check.destination == DestinationClass.INTERNAL:
        if check.outcome == Outcome.NOT_FOUND:
            return (
                _(
                    "%(number)s is %(kind)s, but this hotline has no extension %(number)s, so "
                    "extension %(ext)s cannot call it."
                )
                % values
            )
        return (
            _(
                "%(number)s is %(kind)s of this hotline; extension %(ext)s may call it, because "
                "internal calls are always allowed, and the callee sees %(ext)s."
            )
            % values
        )
    values["caller_id"] = _caller_id(check.caller_id)
    if check.destination == DestinationClass.EMERGENCY:
        return (
            _(
                "%(number)s is %(kind)s; extension %(ext)s may always call it, whatever its call "
                "permission, and the callee sees %(caller_id)s."
            )
            % values
        )
    return (
        _(
            "%(number)s is %(kind)s; extension %(ext)s may call it, because its call permission "
            "“%(has)s” includes it, and the callee sees %(caller_id)s."
        )
        % values
    )


def dial_check(
    *,
    extension: Extension,
    dialled: str,
    rules: RuleSet | None = None,
    at: dt.datetime | None = None,
    kamailio_config: KamailioConfig | None = None,
) -> DialCheck:
    """Decide as kamailio.cfg's route[CALL] does at `at` (default now; a read, nothing is
    written). `kamailio_config` says where to read the call counters (default: `make sip`'s).
    An `at` outside the years schedules are asked about is a ValidationError on `at`."""
    if at is not None:
        try:
            validate_moment(at)
        except ValidationError as exc:
            raise ValidationError({"at": exc.error_list}) from None
    at = at or timezone.now()
    lock, lock_state = _lock(extension=extension, at=at, kamailio_config=kamailio_config)
    if lock is not None:
        return DialCheck(
            extension=extension,
            dialled=dialled,
            outcome=Outcome.DENIED,
            sip_reply=LOCK_REPLY,
            at=at,
            decided_by=DECIDED_BY_LOCK,
            lock=lock,
            lock_state=lock_state,
        )
    check = _decide(extension=extension, dialled=dialled, rules=rules, at=at, kamailio_config=kamailio_config)
    return dataclasses.replace(check, at=check.at or at, lock_state=lock_state)


def _lock(
    *, extension: Extension, at: dt.datetime, kamailio_config: KamailioConfig | None
) -> tuple[Lock | None, str]:
    """route[AUTH_GUARD]'s extension lock, read when `at` is now (a lock describes the present)."""
    if abs((at - timezone.now()).total_seconds()) > COUNTERS_NOW_SECONDS:
        return None, ""
    try:
        lock = extension_lock(
            number=extension.number, domain=extension.hotline.sip_domain, config=kamailio_config
        )
    except CountersUnavailable:
        return None, "unknown"
    if lock is None or lock.until <= at:
        return None, "unlocked"
    return lock, "locked"


def _decide(
    *,
    extension: Extension,
    dialled: str,
    rules: RuleSet | None,
    at: dt.datetime,
    kamailio_config: KamailioConfig | None,
) -> DialCheck:
    hotline = extension.hotline
    domain = hotline.sip_domain
    if not (extension.enabled and hotline.enabled):
        return DialCheck(
            extension=extension, dialled=dialled, outcome=Outcome.DENIED, sip_reply="403 Forbidden"
        )

    feature = FEATURE_CODE_RE.match(dialled)
    if feature:
        mode, target = FEATURE_CODES[feature.group(1)], feature.group(2)
        if supervises(domain=domain, supervisor=extension.number, supervised=target):
            return DialCheck(
                extension=extension,
                dialled=dialled,
                outcome=Outcome.NOT_AVAILABLE if mode in UNAVAILABLE_MODES else Outcome.MEDIA_SERVER,
                sip_reply=UNAVAILABLE_MODES.get(mode, ""),
                target=target,
                supervise_mode=mode,
            )
        return DialCheck(
            extension=extension,
            dialled=dialled,
            outcome=Outcome.DENIED,
            sip_reply="403 Not the supervisor",
            target=target,
            supervise_mode=mode,
        )

    classification = (rules or RuleSet.from_db()).classification(dialled)
    rule = classification.rule
    if rule is None:
        return DialCheck(
            extension=extension,
            dialled=dialled,
            outcome=Outcome.NOT_FOUND,
            sip_reply="404 No dial rule for this number",
            classification=classification,
        )
    needed = rule.required_permission
    if needed is not None and needed > extension.call_permission:
        return DialCheck(
            extension=extension,
            dialled=dialled,
            outcome=Outcome.DENIED,
            sip_reply=f"403 Call permission: {needed.slug} required",
            classification=classification,
            required_permission=needed,
            at=at,
            decided_by=DECIDED_BY_PERMISSION,
        )
    if rule.destination == DestinationClass.INTERNAL:
        if not is_subscriber(domain=domain, username=classification.number):
            return DialCheck(
                extension=extension,
                dialled=dialled,
                outcome=Outcome.NOT_FOUND,
                sip_reply="404 No such extension",
                classification=classification,
                required_permission=needed,
            )
        return DialCheck(
            extension=extension,
            dialled=dialled,
            outcome=Outcome.EXTENSION,
            sip_reply="",
            classification=classification,
            required_permission=needed,
            target=classification.number,
        )
    controls = None
    if rule.destination != DestinationClass.EMERGENCY:
        controls = outbound_controls(extension=extension, at=at, kamailio_config=kamailio_config)
        if controls.sip_reply:
            return DialCheck(
                extension=extension,
                dialled=dialled,
                outcome=Outcome.DENIED,
                sip_reply=controls.sip_reply,
                classification=classification,
                required_permission=needed,
                at=at,
                decided_by=DECIDED_BY_SCHEDULE if not controls.open else DECIDED_BY_LIMIT,
                controls=controls,
            )
    return DialCheck(
        extension=extension,
        dialled=dialled,
        outcome=Outcome.GATEWAY,
        sip_reply="",
        classification=classification,
        required_permission=needed,
        caller_id=caller_id_choice(extension=extension, callee_carrier=rule.carrier),
        at=at,
        controls=controls,
    )


def caller_id_choice(*, extension: Extension, callee_carrier: str) -> CallerIdChoice:
    """route[CALLER_ID]: `first` takes the first number; `same_carrier` the first number on the
    callee's carrier, if any; otherwise (and for `round_robin`, `random`) Kamailio picks per
    call, so the answer is one of the pool."""
    pool = caller_id_pool(extension.pk)
    # The format of the gateway the call tries first (route[CARRIER_SELECT]); without gateways in
    # the dashboard, SIP_GATEWAY_URI's (SIP_GATEWAY_CALLER_ID_FORMAT).
    gateway = gateway_first(tenant_id=extension.hotline.tenant_id)
    fmt = gateway.caller_id_format if gateway else settings.SIP_GATEWAY_CALLER_ID_FORMAT
    numbers = tuple(caller_id_for_carrier(n.number, fmt) for n in pool.numbers)
    chosen = None
    if len(numbers) == 1 or (numbers and pool.strategy == GroupStrategy.FIRST):
        chosen = numbers[0]
    elif pool.strategy == GroupStrategy.SAME_CARRIER and callee_carrier:
        chosen = next(
            (caller_id_for_carrier(n.number, fmt) for n in pool.numbers if n.carrier == callee_carrier), None
        )
    return CallerIdChoice(
        strategy=pool.strategy,
        pool=numbers,
        number=chosen,
        format=fmt,
        gateway=gateway.name if gateway else "",
    )
