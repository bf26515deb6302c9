"""Secrets that travel in a URL path kept out of the logs.

A provisioning link (`/provision/<token>/`) must be a plain URL: Linphone fetches it as it is
(a share link keeps its token after `#`, which never reaches a server, but a softphone has no
page to read it from). Every log line that names a request path would otherwise hold a token
still unused: Django's request warnings, the demo server's request lines, gunicorn's access and
error logs. Each of these writes through a handler with `RedactPathSecrets`
(pbx_admin/settings.py LOGGING; deploy/gunicorn.conf.py for gunicorn); nginx has its own
`log_format` (docs/deployment.md, "Access logs").

No Django import here: gunicorn loads this before the application.
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger  # type: ignore[import-untyped]  # gunicorn ships no type hints

# The path segment after these prefixes is a secret (extensions/urls.py).
SECRET_PATHS = re.compile(r"(/provision/)[^/\s?#\"']+")
REDACTED = "…"


def redact(text: str) -> str:
    return SECRET_PATHS.sub(rf"\g<1>{REDACTED}", text)


class RedactPathSecrets(logging.Filter):
    """A handler filter: the record's message, formatted, with secrets in paths replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class RedactingGunicornLogger(Logger):
    """gunicorn's logger with RedactPathSecrets on every handler of its access and error logs
    (set up again on each reload, so the filters are too)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(f, RedactPathSecrets) for f in handler.filters):
                    handler.addFilter(RedactPathSecrets())
