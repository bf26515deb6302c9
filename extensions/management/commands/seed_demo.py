"""Demo data for `make run`: two tenants, their admins, an agent, hotlines, a group, extensions.

Idempotent: running it again changes nothing that is already there.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from extensions.choices import CallPermission
from extensions.models import Extension
from extensions.services import extension_create
from hotlines.choices import Carrier, GroupStrategy
from hotlines.models import Hotline, NumberGroup
from hotlines.services import hotline_create, number_group_create
from tenants.choices import Role
from tenants.models import Membership, Tenant

TENANTS = [
    {
        "slug": "demo",
        "name": "Demo Call Center",
        "admin": "admin",
        "hotlines": [
            ("19001234", "Tổng đài CSKH", Carrier.VIETTEL),
            ("02473001234", "Văn phòng Hà Nội", Carrier.VNPT),
            ("0912345678", "Di động kinh doanh", ""),
        ],
        "group": ("Nhóm gọi ra", GroupStrategy.SAME_CARRIER),
        "extensions": [
            ("100", "admin01", CallPermission.INTERNATIONAL, None, "Quản trị viên"),
            ("101", "sale01", CallPermission.MOBILE, "100", "Nhân viên kinh doanh"),
            ("102", "kd01", CallPermission.LANDLINE, "100", "Kinh doanh miền Bắc"),
        ],
    },
    {
        "slug": "acme",
        "name": "ACME Việt Nam",
        "admin": "acme-admin",
        "hotlines": [
            ("18005678", "Miễn phí", Carrier.VNPT),
            ("02838123456", "Văn phòng TP.HCM", Carrier.VIETTEL),
        ],
        "group": ("ACME outbound", GroupStrategy.ROUND_ROBIN),
        "extensions": [
            ("100", "reception", CallPermission.LANDLINE, None, "Lễ tân"),
            ("101", "support01", CallPermission.MOBILE, "100", ""),
        ],
    },
]


class Command(BaseCommand):
    help = "Create the demo tenants, users, hotlines, number groups and extensions (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates well-known passwords: run it only with DEBUG on.")
        for spec in TENANTS:
            self.seed_tenant(spec)
        self.seed_user("agent", "demo", Role.AGENT, extension=("19001234", "101"))
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready. Sign in as admin/admin (tenant demo), acme-admin/acme-admin "
                "(tenant acme) or agent/agent (extension 101 of demo)."
            )
        )

    def seed_tenant(self, spec: dict) -> None:
        tenant, _ = Tenant.objects.get_or_create(slug=spec["slug"], defaults={"name": spec["name"]})
        hotlines = []
        for number, name, carrier in spec["hotlines"]:
            hotline = Hotline.objects.filter(number=number).first()
            if hotline is None:
                hotline = hotline_create(tenant=tenant, number=number, name=name, carrier=carrier)
            hotlines.append(hotline)
        group_name, strategy = spec["group"]
        group = NumberGroup.objects.filter(tenant=tenant, name=group_name).first()
        if group is None:
            group = number_group_create(tenant=tenant, name=group_name, strategy=strategy, hotlines=hotlines)
        main = hotlines[0]
        for number, alias, permission, supervisor, description in spec["extensions"]:
            if Extension.objects.filter(hotline=main, number=number).exists():
                continue
            extension_create(
                hotline=main,
                number=number,
                alias=alias,
                call_permission=permission,
                supervisor=Extension.objects.get(hotline=main, number=supervisor) if supervisor else None,
                outbound_groups=[group] if supervisor else [],
                description=description,
            )
        self.seed_user(spec["admin"], spec["slug"], Role.ADMIN)

    def seed_user(self, username: str, tenant_slug: str, role: str, extension=None) -> None:
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_password(username)
            user.save()
        ext = None
        if extension:
            ext = Extension.objects.get(hotline__number=extension[0], number=extension[1])
        Membership.objects.update_or_create(
            user=user,
            defaults={"tenant": Tenant.objects.get(slug=tenant_slug), "role": role, "extension": ext},
        )
