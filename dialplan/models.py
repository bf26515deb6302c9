from django.core.exceptions import ValidationError
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core.models import ConstraintErrorsOnFieldsMixin
from hotlines.choices import Carrier

from .choices import REQUIRED_PERMISSION, DestinationClass, RuleStage
from .validators import (
    compile_pattern,
    replacement_groups,
    validate_rule_pattern,
    validate_rule_replacement,
)


class DialRule(ConstraintErrorsOnFieldsMixin, models.Model):
    """A dial rule (quy tắc quay số): a regular expression over a dialled number.

    Rules run in two passes, each in priority order, first match wins. Normalise rules rewrite
    the number (e.g. +84 912… → 0912…); classify rules then give it a destination class
    (internal, landline, mobile, …), which decides the call permission (quyền gọi) it needs.
    The platform operator edits them; the dashboard's dial check and the SIP server
    (Kamailio's dialplan module, through the `sip_dialplan` view) read these same rows.
    """

    name = models.SlugField(
        _("name"),
        max_length=50,
        unique=True,
        help_text=_("Short identifier shown as the rule that decided, e.g. mobile-viettel."),
    )
    stage = models.PositiveSmallIntegerField(_("stage"), choices=RuleStage.choices)
    priority = models.PositiveIntegerField(
        _("priority"),
        help_text=_("Lower runs first; unique within a stage."),
    )
    pattern = models.CharField(
        _("pattern"),
        max_length=200,
        validators=[validate_rule_pattern],
        help_text=_(
            "Regular expression over the dialled number, e.g. ^0(3[2-9]|86|9[678])\\d{7}$. "
            "Anchor it with ^ and $."
        ),
    )
    replacement = models.CharField(
        _("replacement"),
        max_length=64,
        blank=True,
        validators=[validate_rule_replacement],
        help_text=_("Normalise rules only: the new number, with \\1… for the pattern's groups, e.g. 0\\1."),
    )
    destination = models.CharField(
        _("destination class"),
        max_length=16,
        choices=DestinationClass.choices,
        blank=True,
        help_text=_("Classify rules only."),
    )
    carrier = models.CharField(
        _("carrier"),
        max_length=16,
        choices=Carrier.choices,
        blank=True,
        help_text=_(
            "The callee's carrier, when the prefix tells it (used by the same-carrier caller-ID strategy)."
        ),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    constraint_fields = {"dialrule_unique_priority_per_stage": "priority"}

    class Meta:
        ordering = ["stage", "priority"]
        verbose_name = _("dial rule")
        verbose_name_plural = _("dial rules")
        constraints = [
            # Kamailio orders rules by priority only: equal priorities would make the first
            # match depend on the database's row order.
            models.UniqueConstraint(
                fields=["stage", "priority"],
                name="dialrule_unique_priority_per_stage",
                violation_error_message=_("Another rule of this stage has this priority."),
            ),
            models.CheckConstraint(
                condition=(models.Q(stage=RuleStage.NORMALISE, destination="") & ~models.Q(replacement=""))
                | (models.Q(stage=RuleStage.CLASSIFY, replacement="") & ~models.Q(destination="")),
                name="dialrule_stage_fields",
                violation_error_message=_(
                    "A normalise rule has a replacement and no destination class; a classify "
                    "rule has a destination class and no replacement."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def required_permission(self):
        return REQUIRED_PERMISSION.get(self.destination)

    def clean(self) -> None:
        errors: dict[str, str | Promise] = {}
        if self.stage == RuleStage.NORMALISE:
            if not self.replacement:
                errors["replacement"] = _("A normalise rule needs a replacement.")
            if self.destination:
                errors["destination"] = _("A normalise rule has no destination class.")
        elif self.stage == RuleStage.CLASSIFY:
            if not self.destination:
                errors["destination"] = _("A classify rule needs a destination class.")
            if self.replacement:
                errors["replacement"] = _("A classify rule does not rewrite the number.")
        if self.replacement and "pattern" not in errors:
            try:
                groups = compile_pattern(self.pattern).groups
            except Exception:  # noqa: BLE001 — the pattern's own validator reports it
                groups = None
            if groups is not None and replacement_groups(self.replacement) > groups:
                errors["replacement"] = _(
                    "The replacement refers to group \\%(group)d but the pattern has %(count)d."
                ) % {"group": replacement_groups(self.replacement), "count": groups}
        if errors:
            raise ValidationError(errors)
