from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models


class ConstraintErrorsOnFieldsMixin(models.Model):
    """Report a violated constraint on the field a user can fix, not as a page-level error.

    Django reports multi-column constraints, e.g. (hotline, number) unique, as non-field errors;
    the form and the API should say "number: already exists" instead. `constraint_fields` maps a
    constraint name to that field; by default it is the last field of the constraint.
    """

    constraint_fields: dict[str, str] = {}

    class Meta:
        abstract = True

    @classmethod
    def field_for_constraint(cls, constraint) -> str:
        fields = getattr(constraint, "fields", ()) or ()
        return cls.constraint_fields.get(constraint.name) or (fields[-1] if fields else NON_FIELD_ERRORS)

    def validate_constraints(self, exclude=None):
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as exc:
            by_message = {
                str(c.violation_error_message): self.field_for_constraint(c) for c in self._meta.constraints
            }
            errors: dict[str, list] = {}
            for key, messages in exc.error_dict.items():
                for error in messages:
                    text = str(error.message % error.params if error.params else error.message)
                    target = by_message.get(text, key) if key == NON_FIELD_ERRORS else key
                    errors.setdefault(target, []).append(error)
            raise ValidationError(errors) from exc
