from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from core.models import ConstraintErrorsOnFieldsMixin

from .choices import Carrier, GroupStrategy, HotlineKind
from .numbering import format_vn_number, parse_vn_number
from .schedules import OpenHours, Window, mask_days


def sip_domain_for(national_number: str) -> str:
    """The SIP domain (realm) of a hotline: its digits under the configured suffix."""
    return f"{national_number}.{settings.SIP_DOMAIN_SUFFIX}".lower()


class Hotline(models.Model):
    """A hotline (đầu số / số tổng đài): a public number the provider rents to a tenant.

    Its extensions (máy lẻ) register under its own SIP domain, which is also the digest realm,
    so the same extension number on two hotlines is two different accounts.
    """

    tenant = models.ForeignKey(
        "tenants.Tenant", verbose_name=_("tenant"), on_delete=models.PROTECT, related_name="hotlines"
    )
    number = models.CharField(
        _("number"),
        max_length=20,
        unique=True,
        help_text=_(
            "Any common form is accepted (1900 1234, 024 7300 1234, +84 912…); it is stored normalised."
        ),
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=HotlineKind.choices, editable=False)
    carrier = models.CharField(
        _("carrier"),
        max_length=16,
        choices=Carrier.choices,
        blank=True,
        help_text=_("Derived from the number for mobiles; choose it for other kinds."),
    )
    sip_domain = models.CharField(_("SIP domain"), max_length=253, unique=True, editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    outbound_schedule = models.ForeignKey(
        "hotlines.Schedule",
        verbose_name=_("outbound schedule"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="hotlines",
        help_text=_("When its extensions may call out through the carrier (their default); empty: always."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["number"]
        verbose_name = _("hotline")
        verbose_name_plural = _("hotlines")

    def __str__(self) -> str:
        return f"{self.display_number} {self.name}".strip()

    @cached_property
    def display_number(self) -> str:
        return format_vn_number(self.number)

    def clean(self) -> None:
        # Normalise the number and derive kind, carrier and SIP domain from it, so two
        # spellings of one number can never become two hotlines.
        try:
            parsed = parse_vn_number(self.number)
        except ValidationError as exc:
            raise ValidationError({"number": exc.messages}) from exc
        self.number = parsed.national
        self.kind = parsed.kind
        if parsed.carrier:
            self.carrier = parsed.carrier
        self.sip_domain = sip_domain_for(parsed.national)


class NumberGroup(ConstraintErrorsOnFieldsMixin, models.Model):
    """A number group (nhóm đầu số): an ordered set of a tenant's hotlines used as outbound
    caller ID, with a strategy for picking one number per call."""

    tenant = models.ForeignKey(
        "tenants.Tenant",
        verbose_name=_("tenant"),
        on_delete=models.CASCADE,
        related_name="number_groups",
    )
    name = models.CharField(_("name"), max_length=100)
    strategy = models.CharField(
        _("strategy"),
        max_length=16,
        choices=GroupStrategy.choices,
        default=GroupStrategy.SAME_CARRIER,
    )
    hotlines = models.ManyToManyField(
        Hotline,
        verbose_name=_("hotlines"),
        through="NumberGroupMember",
        related_name="number_groups",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    constraint_fields = {"numbergroup_unique_name_per_tenant": "name"}

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("number group")
        verbose_name_plural = _("number groups")
        constraints = [
            models.UniqueConstraint(
                "tenant",
                Lower("name"),
                name="numbergroup_unique_name_per_tenant",
                violation_error_message=_("A number group with this name already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.name


class NumberGroupMember(models.Model):
    """One hotline's place in a number group."""

    group = models.ForeignKey(NumberGroup, on_delete=models.CASCADE, related_name="members")
    hotline = models.ForeignKey(Hotline, on_delete=models.CASCADE, related_name="group_members")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["group", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "hotline"],
                name="numbergroupmember_unique_hotline",
                violation_error_message=_("This hotline is already in the group."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.group}: {self.hotline}"


SCHEDULE_NAME_MAX_LENGTH = 100


class Schedule(ConstraintErrorsOnFieldsMixin, models.Model):
    """An outbound schedule (lịch gọi ra): when a tenant's extensions may call out through the
    carrier, as weekly time windows in Vietnam's time (Asia/Ho_Chi_Minh) and holiday dates on
    which they may not. Assigned to a hotline (the default of its extensions) or an extension;
    the SIP server refuses calls out through the carrier outside it (internal calls and
    emergency numbers are never refused). See `hotlines.schedules` for what "open" means."""

    tenant = models.ForeignKey(
        "tenants.Tenant", verbose_name=_("tenant"), on_delete=models.CASCADE, related_name="schedules"
    )
    name = models.CharField(_("name"), max_length=SCHEDULE_NAME_MAX_LENGTH)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    constraint_fields = {"schedule_unique_name_per_tenant": "name"}

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("outbound schedule")
        verbose_name_plural = _("outbound schedules")
        constraints = [
            models.UniqueConstraint(
                "tenant",
                Lower("name"),
                name="schedule_unique_name_per_tenant",
                violation_error_message=_("A schedule with this name already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def window_values(self) -> list[Window]:
        """Its windows in order (uses a prefetch of `windows` when there is one)."""
        return [
            Window(days=tuple(mask_days(w.days)), start=w.start_minute, end=w.end_minute)
            for w in self.windows.all()
        ]

    def holiday_dates(self) -> list:
        return sorted(h.date for h in self.holidays.all())

    def open_hours(self) -> OpenHours:
        return OpenHours(windows=tuple(self.window_values()), holidays=frozenset(self.holiday_dates()))


class ScheduleWindow(models.Model):
    """One weekly time range of a schedule: the weekdays it applies to (a bit per day, Monday =
    bit 0) and minutes since midnight, end exclusive (1440 = the end of the day). A window never
    crosses midnight; 22:00–02:00 is two windows. The SIP server reads these rows (sip view
    `sip_outbound_schedule`), so the layout is plain integers on both databases."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="windows")
    days = models.PositiveSmallIntegerField(_("days"))
    start_minute = models.PositiveSmallIntegerField(_("start"))
    end_minute = models.PositiveSmallIntegerField(_("end"))
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["schedule", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(days__gte=1, days__lte=127),
                name="schedulewindow_days_range",
                violation_error_message=_("Choose at least one day, Monday (0) to Sunday (6)."),
            ),
            models.CheckConstraint(
                condition=models.Q(start_minute__lt=models.F("end_minute"), end_minute__lte=1440),
                name="schedulewindow_start_before_end",
                violation_error_message=_("A window ends after it starts, on the same day."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.days:07b} {self.start_minute}–{self.end_minute}"


class ScheduleHoliday(models.Model):
    """A date on which a schedule is closed all day (Tết, national holidays)."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField(_("date"))

    class Meta:
        ordering = ["schedule", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "date"],
                name="scheduleholiday_unique_date",
                violation_error_message=_("This date is listed twice."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.date}"
