from tests.functional.api.conftest import database  # noqa: F401  (fixture)
