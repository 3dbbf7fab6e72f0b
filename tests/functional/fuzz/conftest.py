"""The fuzz tests drive the same in-process API as tests/functional/api."""

from __future__ import annotations

from tests.functional.api.conftest import api, database

__all__ = ["api", "database"]
