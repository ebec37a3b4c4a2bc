"""A plain JSON poll as one block: each partition's end position and the newest
timestamp, whichever way the partitions' messages are mixed in the poll."""

from __future__ import annotations

import pytest

from lakeworks.connectors.kafka import Config
from lakeworks.streaming.kafka import KafkaFollower
from lakeworks.streaming.spec import StreamSource


class _Polled:
    """A consumer message as the follower reads one."""

    def __init__(self, topic: str, partition: int, offset: int, stamp: int) -> None:
        self._where = (topic, partition, offset)
        self._stamp = stamp

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]

    def timestamp(self) -> tuple[int, int]:
        return 1, self._stamp

    def value(self) -> bytes:
        return b'{"offset": %d}' % self._where[2]


def _follower(topics: list[str], sources: list[str]) -> KafkaFollower:
    spec = StreamSource(data_source="events", topics=topics)
    follower = KafkaFollower("events", Config(bootstrap_servers="127.0.0.1:1"), spec)
    follower.sources = sources
    return follower


@pytest.mark.parametrize("partitions", [[1] * 5, [0, 1, 0, 0, 1], [1, 1, 0, 0, 0], [2, 0, 1, 1, 1]])
def test_each_partition_ends_after_its_last_message(partitions: list[int]) -> None:
    follower = _follower(["t"], ["t[0]", "t[1]", "t[2]"])
    raw = [_Polled("t", p, 100 * p + i, 1000 + i) for i, p in enumerate(partitions)]
    block = follower._block(raw)
    expected = {
        f"t[{p}]": 100 * p + max(i for i, q in enumerate(partitions) if q == p) + 1
        for p in set(partitions)
    }
    assert block.ends == expected
    assert block.newest_ms == 1000 + len(partitions) - 1
    assert block.values == [m.value() for m in raw]


def test_several_topics_are_told_apart_by_name() -> None:
    follower = _follower(["a", "b"], ["a[0]", "b[0]"])
    raw = [_Polled("a", 0, 5, 10), _Polled("b", 0, 7, 30), _Polled("a", 0, 6, 20)]
    block = follower._block(raw)
    assert block.ends == {"a[0]": 7, "b[0]": 8}
    assert block.newest_ms == 30
