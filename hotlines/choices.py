from django.db import models
from django.utils.translation import gettext_lazy as _


class HotlineKind(models.TextChoices):
    PREMIUM = "1900", _("1900 (premium)")
    TOLL_FREE = "1800", _("1800 (toll-free)")
    LANDLINE = "landline", _("Landline")
    MOBILE = "mobile", _("Mobile")


class Carrier(models.TextChoices):
    VIETTEL = "viettel", "Viettel"
    VINAPHONE = "vinaphone", "VinaPhone"
    MOBIFONE = "mobifone", "MobiFone"
    VIETNAMOBILE = "vietnamobile", "Vietnamobile"
    GMOBILE = "gmobile", "Gmobile"
    ITEL = "itel", "iTel"
    REDDI = "reddi", "Reddi"
    VNPT = "vnpt", "VNPT"
    FPT = "fpt", "FPT Telecom"
    CMC = "cmc", "CMC Telecom"
    OTHER = "other", _("Other")


class GroupStrategy(models.TextChoices):
    SAME_CARRIER = "same_carrier", _("Same carrier as the callee, then round robin")
    ROUND_ROBIN = "round_robin", _("Round robin")
    RANDOM = "random", _("Random")
    FIRST = "first", _("First number in the group")
