"""Sent once a change to dial rules has committed; `sip` subscribes and reloads Kamailio's copy."""

from django.dispatch import Signal

dial_rules_changed = Signal()
