import pytest

from jumelage_contracts import registry


@pytest.fixture
def scratch_registry():
    """Lets a test register its own event models and upcasters, then forgets them, so the
    schema and example checks only ever see the real contracts."""
    registry.load_all()
    events, upcasters = dict(registry.EVENTS), dict(registry.UPCASTERS)
    try:
        yield registry
    finally:
        registry.EVENTS.clear()
        registry.EVENTS.update(events)
        registry.UPCASTERS.clear()
        registry.UPCASTERS.update(upcasters)
