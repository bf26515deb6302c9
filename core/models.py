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


class BudgetEvent(models.Model):
    """One admitted spend from a budget of the guard (core.ratelimit): who obtained how many
    secrets (or one bulk operation) when. Redis counts the budgets; this is their memory, read
    back into Redis when it restarted empty, so a restart gives nobody a fresh budget. Rows older
    than their budget's window are deleted as the budget is used again."""

    budget = models.CharField(max_length=100)  # e.g. "secret:42": the budget's name and user id
    take_id = models.CharField(max_length=32)  # the take's id in Redis (members "<take_id>:<n>")
    at = models.DateTimeField()
    weight = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["budget", "at"], name="core_budgetevent_budget_at")]

    def __str__(self) -> str:
        return f"{self.budget} ×{self.weight} at {self.at:%Y-%m-%d %H:%M:%S}"
