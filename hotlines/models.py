from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from core.models import ConstraintErrorsOnFieldsMixin

from .choices import Carrier, GroupStrategy, HotlineKind
from .numbering import format_vn_number, parse_vn_number


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
