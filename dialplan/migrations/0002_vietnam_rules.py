"""The Vietnamese numbering plan as dial rules (data; the platform operator edits it later).

National prefix 0, international prefix 00 (or +), country code 84. Landlines are 0 + a 2xx
area code, 11 digits in all; mobiles 10 digits (03x, 05x, 07x, 08x, 09x, carrier by prefix as
`phonenumbers` knows it); 1800/1900 + 4 or 6 digits; 113, 114, 115 are emergency numbers.

Normalise rules first turn the +84 / 0084 / 84 forms into the national form (and + into 00),
so the classify rules only ever see one spelling. The data is frozen here, as a migration's
must be; `dialplan.testing` reloads it after tests that empty the table.
"""

from django.db import migrations

NORMALISE, CLASSIFY = 1, 2

# (name, stage, priority, pattern, replacement, destination, carrier, description)
RULES = [
    ("plus84-service", NORMALISE, 10, r"^\+84(1[89]00[0-9]{4}(?:[0-9]{2})?)$", r"\1", "", "",
     "+84 1900/1800 numbers: drop the country code (+84 1900 1234 → 19001234)"),
    ("plus84-trunk-zero", NORMALISE, 20, r"^\+840([1-9][0-9]*)$", r"0\1", "", "",
     "+84 (0)… written with the national 0: drop the country code"),
    ("plus84", NORMALISE, 30, r"^\+84([0-9]+)$", r"0\1", "", "",
     "+84 numbers: national form (+84 912 345 678 → 0912345678)"),
    ("0084-service", NORMALISE, 40, r"^0084(1[89]00[0-9]{4}(?:[0-9]{2})?)$", r"\1", "", "",
     "0084 1900/1800 numbers: drop the country code"),
    ("0084", NORMALISE, 50, r"^0084([0-9]+)$", r"0\1", "", "",
     "0084 numbers: national form (0084 24 7300 1234 → 02473001234)"),
    ("84-national", NORMALISE, 60, r"^84([35789][0-9]{8}|2[0-9]{9})$", r"0\1", "", "",
     "84 without + or 00 in front of a mobile or landline number: national form"),
    ("plus-international", NORMALISE, 70, r"^\+([1-9][0-9]{5,14})$", r"00\1", "", "",
     "+ and another country code: the 00 form (+1 202 555 0100 → 0012025550100)"),

    ("emergency", CLASSIFY, 10, r"^11[345]$", "", "emergency", "",
     "Emergency: 113 police, 114 fire, 115 ambulance (always allowed)"),
    ("internal", CLASSIFY, 20, r"^[0-9]{2,6}$", "", "internal", "",
     "2 to 6 digits: an extension of the caller's hotline"),
    ("toll-free", CLASSIFY, 30, r"^1800([0-9]{4}|[0-9]{6})$", "", "toll_free", "",
     "1800 + 4 or 6 digits (free for the caller)"),
    ("premium", CLASSIFY, 40, r"^1900([0-9]{4}|[0-9]{6})$", "", "premium", "",
     "1900 + 4 or 6 digits (premium rate)"),
    ("landline", CLASSIFY, 50, r"^02[0-9]{9}$", "", "landline", "",
     "Landlines: 0 + 2xx area code, 11 digits (Hà Nội 024, TP.HCM 028)"),
    ("mobile-viettel", CLASSIFY, 60, r"^0(3[1-9]|86|9[6-8])[0-9]{7}$", "", "mobile", "viettel",
     "Viettel mobiles: 031–039, 086, 096–098"),
    ("mobile-vinaphone", CLASSIFY, 70, r"^0(8[1-5]|8[78]|9[14])[0-9]{7}$", "", "mobile", "vinaphone",
     "VinaPhone mobiles: 081–085, 087, 088, 091, 094"),
    ("mobile-mobifone", CLASSIFY, 80, r"^0(30|51|70|7[6-9]|89|9[03])[0-9]{7}$", "", "mobile",
     "mobifone", "MobiFone mobiles: 030, 051, 070, 076–079, 089, 090, 093"),
    ("mobile-vietnamobile", CLASSIFY, 90, r"^0(5[268]|92)[0-9]{7}$", "", "mobile", "vietnamobile",
     "Vietnamobile mobiles: 052, 056, 058, 092"),
    ("mobile-gmobile", CLASSIFY, 100, r"^0(59|99)[0-9]{7}$", "", "mobile", "gmobile",
     "Gmobile mobiles: 059, 099"),
    ("mobile-reddi", CLASSIFY, 110, r"^055[0-9]{7}$", "", "mobile", "reddi",
     "Reddi mobiles: 055"),
    ("mobile", CLASSIFY, 120, r"^0[35789][0-9]{8}$", "", "mobile", "",
     "Other mobiles: 03x, 05x, 07x, 08x, 09x, 10 digits"),
    ("international", CLASSIFY, 130, r"^00[1-9][0-9]{5,14}$", "", "international", "",
     "International: 00 + country code (other than 84) + number"),
]


def install(DialRule) -> None:
    """Create the rules that are missing (by name); existing ones are left as edited."""
    existing = set(DialRule.objects.values_list("name", flat=True))
    DialRule.objects.bulk_create(
        DialRule(name=name, stage=stage, priority=priority, pattern=pattern,
                 replacement=replacement, destination=destination, carrier=carrier,
                 description=description)
        for name, stage, priority, pattern, replacement, destination, carrier, description in RULES
        if name not in existing
    )


def forwards(apps, schema_editor):
    install(apps.get_model("dialplan", "DialRule"))


def backwards(apps, schema_editor):
    apps.get_model("dialplan", "DialRule").objects.filter(name__in=[r[0] for r in RULES]).delete()


class Migration(migrations.Migration):

    dependencies = [("dialplan", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
