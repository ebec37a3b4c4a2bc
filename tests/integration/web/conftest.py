"""The API test fixtures (app, store, members) for the console's pages."""

from tests.integration.api.conftest import api, api_factory, home

__all__ = ["api", "api_factory", "home"]
