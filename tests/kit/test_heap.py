"""The start-up heap is frozen out of the collector's passes; later garbage is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from finhub.app import create_app
from finhub.config import Settings
from finhub.kit import heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    """Leave the test process's collector as the test found it."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class Node:
    def __init__(self) -> None:
        self.other: Any = None


@pytest.mark.usefixtures("restored_collector")
def test_settling_freezes_what_exists_and_raises_the_young_threshold() -> None:
    gc.unfreeze()
    kept = [Node() for _ in range(1_000)]
    heap.settle_after_startup()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


@pytest.mark.usefixtures("restored_collector")
def test_cycles_made_after_settling_are_still_collected_automatically() -> None:
    heap.settle_after_startup()
    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle: reference counting alone won't free it
    gone = weakref.ref(first)
    del first, second
    # Enough new containers to pass the young threshold: the collector runs on its own.
    held = [[] for _ in range(heap.YOUNG_THRESHOLD + 1_000)]
    assert gone() is None
    del held


@pytest.mark.usefixtures("restored_collector")
async def test_a_serving_app_settles_its_heap_once_started(
    settings: Settings, database_url: str
) -> None:
    gc.unfreeze()
    async with LifespanManager(create_app(settings, database_url, settle_heap=True)):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


@pytest.mark.usefixtures("restored_collector")
async def test_an_app_under_test_leaves_the_collector_alone(
    settings: Settings, database_url: str
) -> None:
    gc.unfreeze()
    threshold = gc.get_threshold()
    async with LifespanManager(create_app(settings, database_url)):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == threshold
