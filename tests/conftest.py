"""Shared test set-up: asyncio debug mode and settings for the dev services."""

from __future__ import annotations

import asyncio
import os

import pytest

os.environ.setdefault("PYTHONASYNCIODEBUG", "1")


@pytest.fixture(scope="session", autouse=True)
def asyncio_debug_mode() -> None:
    """Run every loop in debug mode so blocking calls and forgotten awaits show up."""
    asyncio.get_event_loop_policy()
