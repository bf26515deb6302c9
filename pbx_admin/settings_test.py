"""Test settings: the production settings, only made faster (and plain HTTP for the test server)."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
# A fixed test key (32 bytes, url-safe base64); production keys come from the environment.
os.environ.setdefault("SIP_ENCRYPTION_KEYS", "dGVzdC1vbmx5LXNpcC1rZXktMzItYnl0ZXMtbG9uZyE=")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
