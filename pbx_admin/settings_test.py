"""Test settings: the production settings, only made faster (and plain HTTP for the test server)."""

import os
import tempfile
import uuid

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
# A fixed test key (32 bytes, url-safe base64); production keys come from the environment.
os.environ.setdefault("SIP_ENCRYPTION_KEYS", "dGVzdC1vbmx5LXNpcC1rZXktMzItYnl0ZXMtbG9uZyE=")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# The tests' webhook receivers listen on loopback; each run has a task queue of its own (its
# worker subprocesses inherit the environment, so they read the same queue).
os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE_TARGETS", "1")
os.environ.setdefault("TASK_QUEUE_NAME", f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
os.environ.setdefault(
    "TASK_QUEUE_FILE", os.path.join(tempfile.gettempdir(), f"pbx-{os.environ['TASK_QUEUE_NAME']}.sqlite3")
)
# Each run writes its call exports apart (the worker subprocesses inherit it too).
os.environ.setdefault(
    "CALL_EXPORT_ROOT", os.path.join(tempfile.gettempdir(), f"pbx-exports-{os.environ['TASK_QUEUE_NAME']}")
)

from .settings import *  # noqa: E402,F401,F403
from .settings import CACHES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# The reveal rate limit is counted in the cache: Redis when REDIS_URL is set (CI and `make test`
# set it; the limit must hold across app servers), with a per-run prefix so runs never share counts.
if os.environ.get("REDIS_URL"):
    CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
