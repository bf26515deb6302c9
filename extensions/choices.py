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
