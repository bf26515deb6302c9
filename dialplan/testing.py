"""Test helpers: the seeded Vietnamese rules, back after a test that emptied the table.

Tests that Kamailio must see commit their rows (`transactional_db`), and Django empties every
table after such a test, the rules a data migration seeded included.
"""

import importlib

from .models import DialRule


def install_vietnam_rules() -> None:
    """Create the seeded rules that are missing, exactly as migration 0002 does."""
    importlib.import_module("dialplan.migrations.0002_vietnam_rules").install(DialRule)
