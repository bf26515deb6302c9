"""Debian's Chromium driven by Playwright (never `playwright install`: the browser is a package)."""

import os
import shutil
from contextlib import contextmanager

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_page(**context_options):
    """A page of a new 1280×900 browser context (`context_options` for the context)."""
    with chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **context_options)
        yield context.new_page()


@contextmanager
def chromium_browser():
    """One browser for tests that open several contexts (roles, viewports) in it."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (make system-deps installs it)")
    from playwright.sync_api import sync_playwright

    # Django refuses sync ORM calls from an event loop; Playwright's sync API runs one. Only for
    # the browser's lifetime: a subprocess started later must not inherit it.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                _close_connections_opened_here()
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _close_connections_opened_here() -> None:
    """ORM calls a test makes inside the browser block run in the context of Playwright's event
    loop, which has its own database connections (Django keeps them per context). Left open,
    one outlives the test and keeps the test database from being dropped at the end of the
    run. A connection inside a transaction (a test's own) is left alone."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()
