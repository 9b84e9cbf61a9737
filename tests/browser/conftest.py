"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Everything in this folder is marked `browser`. Without /usr/bin/chromium the tests are skipped
locally and fail in CI (CI=true), where a silent skip would hide that nothing ran.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import World, build_world

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A hook in this conftest sees every collected item, not only this folder's.
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium instead of Playwright's download (which is blocked here)."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        message = f"{CHROMIUM} not found: install Debian's chromium to run browser tests (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an asyncio loop in the main thread for the rest of the session, so
    Django refuses ORM calls there (test data, transactional flush, later tests). They are safe here:
    the loop belongs to Playwright, not to Django."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    """Relative URLs in page.goto() go to the live server."""
    return live_server.url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    # The browser asks for Norwegian, like our users' browsers.
    return {**browser_context_args, "locale": "nb-NO"}


@pytest.fixture
def live_world(transactional_db) -> World:
    """The named actors of `world`, committed so that the live server's thread sees them."""
    return build_world()
