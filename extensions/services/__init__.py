"""Every write to extensions goes through here: the dashboard, the API, commands and imports.

- `rules`: the rules for a set of extensions, in memory;
- `batch`: load → check → write, with audit rows and on-commit signals (the one write path);
- `single`: one extension (a batch of one); `bulk`: a range, one change to many, new passwords.
"""

from .bulk import (
    MAX_BATCH,
    BulkValidationError,
    extension_bulk_regenerate_passwords,
    extension_bulk_update,
    extension_range_create,
    preview_bulk_update,
)
from .rules import AUDITED_FIELDS
from .single import (
    EDITABLE_FIELDS,
    extension_create,
    extension_delete,
    extension_reveal_credentials,
    extension_rotate_password,
    extension_update,
)

__all__ = [
    "AUDITED_FIELDS",
    "EDITABLE_FIELDS",
    "MAX_BATCH",
    "BulkValidationError",
    "extension_bulk_regenerate_passwords",
    "extension_bulk_update",
    "extension_create",
    "extension_delete",
    "extension_range_create",
    "extension_reveal_credentials",
    "extension_rotate_password",
    "extension_update",
    "preview_bulk_update",
]
