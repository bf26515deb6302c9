from django.db import models
from django.utils.translation import gettext_lazy as _


class CallPermission(models.IntegerChoices):
    """Call permission (quyền gọi): four cumulative levels, each includes the ones before it."""

    INTERNAL = 1, _("Internal")
    LANDLINE = 2, _("Landline")
    MOBILE = 3, _("Mobile")
    INTERNATIONAL = 4, _("International")

    @property
    def slug(self) -> str:
        return self.name.lower()

    @classmethod
    def from_slug(cls, slug: str) -> "CallPermission":
        return cls[slug.upper()]


CALL_PERMISSION_HINT = _(
    "Each level includes the ones before it: internal < landline < mobile < international. "
    "Emergency numbers (113, 114, 115) are always allowed."
)


class ImportStatus(models.TextChoices):
    """Where a CSV import stands: checked (dry run shown), applied, or refused on apply."""

    PREVIEWED = "previewed", _("Checked, not applied")
    APPLIED = "applied", _("Applied")
    FAILED = "failed", _("Refused")


class RowAction(models.TextChoices):
    """What an import does with one row of the file."""

    CREATE = "create", _("Create")
    UPDATE = "update", _("Update")
    UNCHANGED = "unchanged", _("Unchanged")
    ERROR = "error", _("Error")
