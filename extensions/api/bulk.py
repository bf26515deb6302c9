"""Bulk work in the extensions API: `extensions/bulk/`, `extensions/import/`, `extensions/export/`.

The same services as the dashboard's bulk pages (`extensions.services.bulk`, `extensions.imports`); the
serializers here only parse. Mixed into `ExtensionViewSet`, whose permissions make every one of
these admin-only.
"""

from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.response import Response

from core.api.fields import TenantScopedPrimaryKeyRelatedField
from hotlines.models import Hotline, NumberGroup
from hotlines.selectors import hotline_choices, number_group_choices
from sip.selectors import with_contacts
from tenants.selectors import admin_tenant_id

from .. import csvio, imports
from ..choices import RowAction
from ..credentials import login_info
from ..models import Extension
from ..selectors import extension_choices, extension_list
from ..services import bulk
from .serializers import CallPermissionField, ExtensionSerializer, LoginInfoSerializer

# --- parsing and rendering CSV ------------------------------------------------------------------


class CsvParser(BaseParser):
    """A `text/csv` body, as bytes; read no further than the size limit (refused after)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read(csvio.MAX_BYTES + 1)


# --- serializers --------------------------------------------------------------------------------


class HotlineQuerySerializer(serializers.Serializer):
    hotline = TenantScopedPrimaryKeyRelatedField(scope=hotline_choices, queryset=Hotline.objects.none())


class ImportQuerySerializer(HotlineQuerySerializer):
    dry_run = serializers.BooleanField(default=True)


class _IdsField(serializers.ListField):
    """Extension ids of the caller's tenant, looked up together (one query, not one per id)."""

    def __init__(self, **kwargs):
        super().__init__(
            child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
            min_length=1,
            max_length=bulk.MAX_BATCH,
            **kwargs,
        )

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            # {"3": ["A valid integer is required."]} → one flat list, like other fields' errors.
            raise serializers.ValidationError(
                [
                    _("Item %(index)s: %(error)s") % {"index": index, "error": error}
                    for index, errors in exc.detail.items()
                    for error in errors
                ]
            ) from exc


class BulkCreateRangeSerializer(serializers.Serializer):
    """Extensions `first`…`last` (at most 1,000) on one hotline, sharing their settings."""

    action = serializers.ChoiceField(choices=["create_range"])
    hotline = TenantScopedPrimaryKeyRelatedField(scope=hotline_choices, queryset=Hotline.objects.none())
    first = serializers.CharField(max_length=6, help_text=gettext_lazy("e.g. 100"))
    last = serializers.CharField(max_length=6, help_text=gettext_lazy("e.g. 199"))
    alias_pattern = serializers.CharField(
        max_length=40, help_text=gettext_lazy("{n} stands for the number: sale{n} → sale100, …")
    )
    call_permission = CallPermissionField(required=False)
    supervisor = TenantScopedPrimaryKeyRelatedField(
        scope=extension_choices, queryset=Extension.objects.none(), required=False, allow_null=True
    )
    outbound_hotlines = TenantScopedPrimaryKeyRelatedField(
        scope=hotline_choices, queryset=Hotline.objects.none(), many=True, required=False
    )
    outbound_groups = TenantScopedPrimaryKeyRelatedField(
        scope=number_group_choices, queryset=NumberGroup.objects.none(), many=True, required=False
    )
    # No max_length here: the model owns the limit, so the API answers as every other entry point.
    description = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)
    enabled = serializers.BooleanField(required=False)


class BulkUpdateSerializer(serializers.Serializer):
    """The same change for every listed extension; only the fields given change."""

    action = serializers.ChoiceField(choices=["update"])
    ids = _IdsField()
    call_permission = CallPermissionField(required=False)
    supervisor = TenantScopedPrimaryKeyRelatedField(
        scope=extension_choices,
        queryset=Extension.objects.none(),
        required=False,
        allow_null=True,
        help_text=gettext_lazy("An extension of the same hotline, or null for none."),
    )
    outbound_hotlines = TenantScopedPrimaryKeyRelatedField(
        scope=hotline_choices, queryset=Hotline.objects.none(), many=True, required=False
    )
    outbound_groups = TenantScopedPrimaryKeyRelatedField(
        scope=number_group_choices, queryset=NumberGroup.objects.none(), many=True, required=False
    )
    enabled = serializers.BooleanField(required=False)


class BulkRegenerateSerializer(serializers.Serializer):
    """New generated passwords for the listed extensions."""

    action = serializers.ChoiceField(choices=["regenerate_passwords"])
    ids = _IdsField()
    reveal = serializers.BooleanField(
        default=False,
        help_text=gettext_lazy(
            "Return the new login info, passwords included (reveal guard: rate-limited, audited)."
        ),
    )


BULK_SERIALIZERS = {
    "create_range": BulkCreateRangeSerializer,
    "update": BulkUpdateSerializer,
    "regenerate_passwords": BulkRegenerateSerializer,
}


class BulkResultSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text=gettext_lazy("Extensions created or changed."))
    results = ExtensionSerializer(many=True)
    credentials = LoginInfoSerializer(
        many=True,
        required=False,
        help_text=gettext_lazy("Only for regenerate_passwords with reveal: the new login info."),
    )


class ImportRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    number = serializers.CharField(allow_blank=True)
    action = serializers.ChoiceField(choices=RowAction.values)
    changes = serializers.DictField(
        child=serializers.ListField(
            child=serializers.CharField(allow_blank=True), min_length=2, max_length=2
        ),
        help_text=gettext_lazy("Column → [now, after]."),
    )
    errors = serializers.ListField(child=serializers.CharField())


class ImportCountsSerializer(serializers.Serializer):
    create = serializers.IntegerField()
    update = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    error = serializers.IntegerField()


class ImportResultSerializer(serializers.Serializer):
    applied = serializers.BooleanField()
    ok = serializers.BooleanField(help_text=gettext_lazy("No row has an error."))
    counts = ImportCountsSerializer()
    file_errors = serializers.ListField(child=serializers.CharField())
    rows = ImportRowSerializer(many=True)


# --- the actions --------------------------------------------------------------------------------

HOTLINE_PARAMETER = OpenApiParameter(
    "hotline", OpenApiTypes.INT, required=True, description="The hotline (id) whose extensions these are."
)
DRY_RUN_PARAMETER = OpenApiParameter(
    "dry_run",
    OpenApiTypes.BOOL,
    required=False,
    description="true (the default): check every row and say what would happen, writing "
    "nothing. false: check again and apply all rows in one transaction, or none.",
)
CSV_FILE_REQUEST = {
    "multipart/form-data": {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary"}},
        "required": ["file"],
    },
    "text/csv": {"type": "string"},
}
CSV_DESCRIPTION = (
    "Columns: " + ", ".join(csvio.KNOWN_COLUMNS) + " (only `number` is required). UTF-8 with or "
    f"without BOM, at most {csvio.MAX_BYTES // 1024 // 1024} MB and {csvio.MAX_ROWS} rows; cells "
    "starting with = + - @ are refused (a leading ' makes them text)."
)


class ExtensionBulkActionsMixin:
    """`@action`s of ExtensionViewSet for work on many extensions at once."""

    @extend_schema(
        summary="Create a range, change many, or regenerate many passwords",
        description="One transaction: every extension passes the rules or nothing is written. "
        "Errors about single extensions are keyed by extension number.",
        request=PolymorphicProxySerializer(
            component_name="BulkRequest",
            serializers=list(BULK_SERIALIZERS.values()),
            resource_type_field_name="action",
        ),
        responses={200: BulkResultSerializer, 201: BulkResultSerializer, 429: None},
        examples=[
            OpenApiExample(
                "Range",
                request_only=True,
                value={
                    "action": "create_range",
                    "hotline": 1,
                    "first": "100",
                    "last": "199",
                    "alias_pattern": "sale{n}",
                    "call_permission": "mobile",
                },
            )
        ],
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    @sensitive_variables()
    def bulk(self, request):
        kind = request.data.get("action") if isinstance(request.data, dict) else None
        serializer_class = BULK_SERIALIZERS.get(kind) if isinstance(kind, str) else None
        if serializer_class is None:
            raise serializers.ValidationError(
                {"action": [_("Choose one of: %(actions)s.") % {"actions": ", ".join(BULK_SERIALIZERS)}]}
            )
        serializer = serializer_class(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("action")
        if kind == "create_range":
            created = bulk.extension_range_create(
                outbound_hotlines=data.pop("outbound_hotlines", []),
                outbound_groups=data.pop("outbound_groups", []),
                **data,
            )
            return self._bulk_response(created, status=status.HTTP_201_CREATED)
        selected = self._extensions(data.pop("ids"))
        if kind == "update":
            return self._bulk_response(bulk.extension_bulk_update(extensions=selected, data=data))
        from .views import reveal_guard  # the views module mixes this class in

        if not data["reveal"]:
            done = bulk.extension_bulk_regenerate_passwords(extensions=selected)
            return self._bulk_response([extension for extension, _password in done])
        with reveal_guard():
            done = bulk.extension_bulk_regenerate_passwords(
                extensions=selected, user=request.user, session=self._browser_session()
            )
        response = self._bulk_response([extension for extension, _password in done])
        response.data["credentials"] = LoginInfoSerializer(
            [login_info(extension, password) for extension, password in done], many=True
        ).data
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        summary="Import extensions from CSV (dry run first)",
        description="Keyed on the extension number: a row creates that extension or updates it. "
        + CSV_DESCRIPTION
        + " Send the file as multipart `file` or as a text/csv body. "
        "A file that cannot be read, or an apply with any row in error, is a 400 "
        "(errors under `file` or per `line N`) and writes nothing.",
        parameters=[HOTLINE_PARAMETER, DRY_RUN_PARAMETER],
        request=CSV_FILE_REQUEST,
        responses={200: ImportResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, CsvParser])
    @sensitive_variables()
    def import_csv(self, request):
        query = ImportQuerySerializer(data=request.query_params, context=self.get_serializer_context())
        query.is_valid(raise_exception=True)
        hotline, dry_run = query.validated_data["hotline"], query.validated_data["dry_run"]
        data, filename = self._upload(request)
        from .views import reveal_guard  # the views module mixes this class in

        if dry_run:
            result = imports.import_preview(hotline=hotline, data=data)
        else:
            with reveal_guard():
                result = imports.import_apply(
                    hotline=hotline,
                    data=data,
                    filename=filename,
                    user=request.user,
                    session=self._browser_session(),
                )
        if result.file_errors:
            raise ValidationError({"file": result.file_errors})
        if not dry_run and not result.applied:
            raise ValidationError(
                {
                    f"line {row.line}": [
                        f"{row.number}: {error}" if row.number else error for error in row.errors
                    ]
                    for row in result.rows
                    if row.errors
                }
            )
        return Response(ImportResultSerializer(result.as_dict()).data)

    @extend_schema(
        methods=["GET"],
        summary="Export a hotline's extensions as CSV (no passwords)",
        description="The import's columns, without `password`; imports back unchanged. Cells "
        "starting with = + - @ get a leading ' so spreadsheets show them as text.",
        parameters=[HOTLINE_PARAMETER],
        request=None,
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="UTF-8 with BOM."),
            400: None,
        },
    )
    @extend_schema(
        methods=["POST"],
        summary="Export a hotline's extensions as CSV, with passwords",
        description="Through the reveal guard (rate-limited; a browser sign-in must be recent), "
        "with an `export` audit record of the operation (the hotline, its count) and one per "
        "extension, written batch by batch as the file streams, each before its batch's "
        "passwords are decrypted.",
        parameters=[HOTLINE_PARAMETER],
        request=None,
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="UTF-8 with BOM."),
            400: None,
            429: None,
        },
    )
    @action(detail=False, methods=["get", "post"], url_path="export")
    @sensitive_variables()
    def export_csv(self, request):
        query = HotlineQuerySerializer(data=request.query_params, context=self.get_serializer_context())
        query.is_valid(raise_exception=True)
        hotline = query.validated_data["hotline"]
        with_passwords = request.method == "POST"
        if with_passwords:
            from .views import reveal_guard

            with reveal_guard():
                rows = imports.export_rows_with_passwords(
                    hotline=hotline, user=request.user, session=self._browser_session()
                )
        else:
            rows = imports.export_rows(hotline=hotline)
        response = StreamingHttpResponse(
            imports.iter_export_csv(rows, with_passwords=with_passwords),
            content_type="text/csv; charset=utf-8",
        )
        suffix = "-with-passwords" if with_passwords else ""
        filename = get_valid_filename(f"extensions-{hotline.number}{suffix}.csv")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response

    # --- helpers ---

    def perform_content_negotiation(self, request, force=False):
        # The export answers CSV whatever the Accept header says (its errors are JSON).
        return super().perform_content_negotiation(request, force=force or self.action == "export_csv")

    def _extensions(self, ids: list[int]) -> list[Extension]:
        wanted = set(ids)
        found = list(
            extension_choices(tenant_id=admin_tenant_id(self.request.user))
            .filter(pk__in=wanted)
            .select_related("hotline")
        )
        missing = sorted(wanted - {e.pk for e in found})
        if missing:
            raise ValidationError(
                {"ids": [_("Unknown extension id(s): %(ids)s.") % {"ids": ", ".join(map(str, missing[:20]))}]}
            )
        return found

    def _upload(self, request) -> tuple[bytes, str]:
        data = request.data
        upload = request.FILES.get("file")
        if upload is not None:
            if upload.size > csvio.MAX_BYTES:
                raise ValidationError(
                    {
                        "file": [
                            _("The file is larger than %(limit)d MB.")
                            % {"limit": csvio.MAX_BYTES // 1024 // 1024}
                        ]
                    }
                )
            return upload.read(), upload.name
        if isinstance(data, bytes):
            if len(data) > csvio.MAX_BYTES:
                raise ValidationError(
                    {
                        "file": [
                            _("The file is larger than %(limit)d MB.")
                            % {"limit": csvio.MAX_BYTES // 1024 // 1024}
                        ]
                    }
                )
            return data, ""
        raise ValidationError(
            {"file": [_("Send the CSV as a multipart “file” field or as a text/csv body.")]}
        )

    def _bulk_response(self, extensions: list[Extension], status=status.HTTP_200_OK) -> Response:
        ids = [e.pk for e in extensions]
        rows = with_contacts(extension_list(user=self.request.user).filter(pk__in=ids)) if ids else []
        return Response(
            {
                "count": len(ids),
                "results": ExtensionSerializer(rows, many=True, context=self.get_serializer_context()).data,
            },
            status=status,
        )
