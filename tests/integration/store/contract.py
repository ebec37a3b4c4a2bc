"""The metadata store contract: every backend passes the same behaviour."""

from __future__ import annotations

from tests.integration.store.contract_instances import InstanceContract
from tests.integration.store.contract_records import RecordContract
from tests.integration.store.contract_schema import MigrationContract


class StoreContract(MigrationContract, InstanceContract, RecordContract):
    """Subclass per backend and override the ``url`` fixture (a fresh, empty store)."""
