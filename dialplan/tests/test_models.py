"""DialRule's own rules: each stage has its fields, priorities are unique per stage."""

import pytest
from django.core.exceptions import ValidationError

from dialplan.choices import DestinationClass, RuleStage
from dialplan.models import DialRule
from extensions.choices import CallPermission


def rule(**fields) -> DialRule:
    defaults = {
        "name": "test-rule",
        "stage": RuleStage.CLASSIFY,
        "priority": 999,
        "pattern": r"^9[0-9]{3}$",
        "destination": DestinationClass.LANDLINE,
    }
    return DialRule(**{**defaults, **fields})


def errors(instance: DialRule) -> dict:
    with pytest.raises(ValidationError) as error:
        instance.full_clean()
    return error.value.message_dict


def test_a_valid_classify_rule(db):
    rule().full_clean()


def test_a_normalise_rule_needs_a_replacement_and_no_class(db):
    assert set(errors(rule(stage=RuleStage.NORMALISE))) == {"replacement", "destination"}
    rule(
        stage=RuleStage.NORMALISE, destination="", pattern=r"^\+84([0-9]+)$", replacement=r"0\1"
    ).full_clean()


def test_a_classify_rule_needs_a_class_and_no_replacement(db):
    assert set(errors(rule(destination="", replacement="0"))) == {"destination", "replacement"}


def test_the_replacement_may_only_name_groups_the_pattern_has(db):
    found = errors(
        rule(stage=RuleStage.NORMALISE, destination="", pattern=r"^\+84([0-9]+)$", replacement=r"0\2")
    )
    assert found == {"replacement": ["The replacement refers to group \\2 but the pattern has 1."]}


def test_an_invalid_pattern_is_reported_on_the_pattern(db):
    assert "pattern" in errors(rule(pattern=r"^(?=9)\d+$"))


def test_priority_is_unique_per_stage(vn_rules):
    taken = DialRule.objects.get(name="international")
    assert errors(rule(priority=taken.priority)) == {
        "priority": ["Another rule of this stage has this priority."]
    }
    rule(priority=taken.priority, stage=RuleStage.NORMALISE, destination="", replacement="0").full_clean()


def test_the_database_refuses_a_rule_without_its_stage_fields(db):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        rule(destination="").save()


def test_required_permission_follows_the_class():
    assert rule(destination=DestinationClass.TOLL_FREE).required_permission == CallPermission.LANDLINE
    assert rule(destination=DestinationClass.PREMIUM).required_permission == CallPermission.MOBILE
    assert rule(destination=DestinationClass.EMERGENCY).required_permission is None
