"""The API's errors as JSON: Django ValidationError from a service → 400 with field errors
(`{"alias": ["…"]}`); a body over Django's size limits → 413/400 `{"detail": "…"}`."""

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler


class PreconditionFailed(exceptions.APIException):
    """412: the object changed since the version the client named in `If-Match`."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("The object was changed since you read it; read it again and retry.")
    default_code = "precondition_failed"


class RequestTooLarge(exceptions.APIException):
    """413: a body over DATA_UPLOAD_MAX_MEMORY_SIZE (JSON, form fields; files have their own
    limits, e.g. the CSV import's)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1024 / 1024
        super().__init__(_("The request body is larger than %(limit)s MB.") % {"limit": f"{limit:g}"})


def as_drf_validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        detail = {
            (api_settings.NON_FIELD_ERRORS_KEY if key == NON_FIELD_ERRORS else key): messages
            for key, messages in exc.message_dict.items()
        }
    else:
        detail = {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
    return exceptions.ValidationError(detail)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = as_drf_validation_error(exc)
    # Django raises these while DRF reads the body; left alone, they became an HTML 400 page.
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        exc = exceptions.ParseError(_("The request has more fields or files than the server accepts."))
    return drf_exception_handler(exc, context)
