import pytest

from dialplan.classifier import RuleSet
from dialplan.testing import install_vietnam_rules


@pytest.fixture
def vn_rules(db) -> RuleSet:
    """The seeded Vietnamese rules (a transactional test elsewhere may have emptied the table)."""
    install_vietnam_rules()
    return RuleSet.from_db()
