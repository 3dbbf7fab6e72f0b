from tests.functional.api.conftest import api, database, live_api  # noqa: F401  (fixtures)
