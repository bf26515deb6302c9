"""OpenAPI schema: every operation also documents the error responses it really gives.

drf-spectacular documents the success response of each operation; clients (and the fuzz
tests) also need the errors, which are the same few shapes everywhere, so they are added here
once instead of with `@extend_schema` on every action.
"""

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

ERROR = {
    "type": "object",
    "description": "An error that is not about a particular field.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
FIELD_ERRORS = {
    "type": "object",
    "description": "Messages per field; `non_field_errors` holds those about the whole object.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "minProperties": 1,
}

DESCRIPTIONS = {
    "400": "Invalid input: messages per field (or `detail` for a body that is not JSON).",
    "401": "No credentials, or an unknown or revoked token.",
    "403": "Not allowed: not a member of a customer, an agent on an admin-only route, or a "
    "browser sign-in too old to reveal a password.",
    "404": "No such object among those you may see (other customers' objects included).",
    "412": "`If-Match` does not name the current version of the object.",
    "415": "The body is not `application/json`.",
    "429": "Too many requests of this kind; `Retry-After` says when to try again.",
    "503": "The SIP server did not answer over its control socket; nothing was done. Try again.",
}


IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description='Optional: the `ETag` you read (e.g. `"3"`). If the object changed since, '
    "nothing is saved and the answer is 412.",
)


# The viewsets let any path segment through as the id (so a malformed one is a JSON 404, not
# Django's HTML page); the documented type stays what a real id is.
ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The object's id.")


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema plus the error responses of each operation."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        return [ID, *parameters] if "{id}" in self.path else parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self.error_codes():
            responses.setdefault(code, self._error_response(code))
        # An error an action declares without a body (`429: None`) has the usual error body.
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                responses[code] = self._error_response(code)
        return dict(sorted(responses.items()))

    def error_codes(self) -> list[str]:
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        is_list = self.method == "GET" and self._is_list_view()
        codes = ["401", "403"]
        if has_body or (is_list and getattr(self.view, "filterset_class", None)):
            codes.append("400")  # invalid body, or invalid filter values
        if "{" in self.path or (is_list and self._get_paginator()):
            codes.append("404")  # unknown id, or a page number past the end
        if has_body:
            codes.append("415")
        if any(getattr(p, "name", None) == "If-Match" for p in self.get_override_parameters()):
            codes.append("412")
        return codes

    def _error_response(self, code: str) -> dict:
        error = self._component("Error", ERROR)
        schema = {"oneOf": [self._component("FieldErrors", FIELD_ERRORS), error]} if code == "400" else error
        return {
            "description": DESCRIPTIONS.get(code, "Error."),
            "content": {media_type: {"schema": schema} for media_type in self.map_renderers("media_type")},
        }

    def _component(self, name: str, schema: dict) -> dict:
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component.ref
