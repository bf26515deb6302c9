"""The dial rules applied in Python exactly as Kamailio's dialplan module applies them.

Kamailio (deploy/kamailio/kamailio.cfg) runs `dp_replace(1, …)` then `dp_match(2, …)` over the
`sip_dialplan` view; this module does the same over the same rows, so the dashboard's dial
check and the SIP server cannot disagree. What "the same" means, from the module's source:

- rules of a stage are tried in priority order; the first whose pattern matches *anywhere*
  in the number wins (PCRE's unanchored match = `re.search`); an empty number matches nothing;
- a normalise rule's result is its replacement alone, with `\\1`… filled in from the pattern's
  groups (`Match.expand`), not the number with the matched part replaced; a result of 127
  characters or more is an error there, so no normalisation here; an empty result stays
  empty (and then matches no classify rule);
- a number no normalise rule matches is classified as dialled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from extensions.choices import CallPermission

from .choices import REQUIRED_PERMISSION, RuleStage
from .validators import compile_pattern

# Kamailio's dialplan output buffer (MAX_PHONE_NB_DIGITS).
MAX_OUTPUT_LENGTH = 127


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern:
    return compile_pattern(pattern)


@dataclass(frozen=True)
class Rule:
    """One enabled dial rule, as both sides read it."""

    id: int
    name: str
    stage: int
    priority: int
    pattern: str
    replacement: str = ""
    destination: str = ""
    carrier: str = ""
    description: str = ""

    @property
    def regex(self) -> re.Pattern:
        return _compiled(self.pattern)

    @property
    def required_permission(self) -> CallPermission | None:
        return REQUIRED_PERMISSION.get(self.destination)


@dataclass(frozen=True)
class Classification:
    """A dialled number after both passes."""

    dialled: str
    number: str  # after normalisation: what the carrier gateway is sent
    normalised_by: Rule | None
    rule: Rule | None  # the classify rule that matched; None: no rule knows the number

    @property
    def destination(self) -> str:
        return self.rule.destination if self.rule else ""

    @property
    def carrier(self) -> str:
        return self.rule.carrier if self.rule else ""


class RuleSet:
    """The enabled rules of both stages, in the order Kamailio tries them."""

    def __init__(self, rules: Iterable[Rule]):
        ordered = sorted(rules, key=lambda r: (r.stage, r.priority, r.id))
        self.normalise_rules = [r for r in ordered if r.stage == RuleStage.NORMALISE]
        self.classify_rules = [r for r in ordered if r.stage == RuleStage.CLASSIFY]

    @classmethod
    def from_db(cls) -> RuleSet:
        from .models import DialRule

        fields = [
            "id",
            "name",
            "stage",
            "priority",
            "pattern",
            "replacement",
            "destination",
            "carrier",
            "description",
        ]
        rows = DialRule.objects.filter(enabled=True).order_by("stage", "priority").values(*fields)
        return cls(Rule(**row) for row in rows)

    def normalise(self, number: str) -> tuple[str, Rule | None]:
        """dp_replace(1, number): the rewritten number and the rule, or the number unchanged."""
        rule = _first_match(self.normalise_rules, number)
        if rule is None:
            return number, None
        match = rule.regex.search(number)
        result = match.expand(rule.replacement)
        if len(result) >= MAX_OUTPUT_LENGTH:
            return number, None  # Kamailio's dp_replace fails and leaves the number as it was
        return result, rule

    def classify(self, number: str) -> Rule | None:
        """dp_match(2, number): the first classify rule matching the number."""
        return _first_match(self.classify_rules, number)

    def classification(self, dialled: str) -> Classification:
        number, normalised_by = self.normalise(dialled)
        return Classification(
            dialled=dialled, number=number, normalised_by=normalised_by, rule=self.classify(number)
        )


def _first_match(rules: list[Rule], number: str) -> Rule | None:
    if not number:
        return None
    return next((rule for rule in rules if rule.regex.search(number)), None)
