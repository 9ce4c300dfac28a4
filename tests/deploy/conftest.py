"""One live web process for the deployment tests (proxy, metrics names)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Services
from tests.livesrv import LiveServer, running

METRICS_TOKEN = "metrics-token-for-tests"
RATE = 2  # public requests a minute per client address


@pytest.fixture(scope="session")
def app_server(services: Services, schema_ready: str) -> Iterator[LiveServer]:
    with running(services.database_url, services.redis_url, METRICS_TOKEN=METRICS_TOKEN,
                 PUBLIC_RATE_PER_MINUTE=str(RATE)) as srv:
        yield srv
