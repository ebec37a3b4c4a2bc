"""What the next flush holds: counts, each source's end position, the newest timestamp,
and plain JSON blocks decoded together (or message by message when one is bad)."""

from __future__ import annotations

import json
from typing import Any

from lakeworks.integration.convert import Converter
from lakeworks.streaming.batch import build, build_blocks, decode_block
from lakeworks.streaming.kafka import Message, MessageBlock
from lakeworks.streaming.pending import Pending


class _Raw:
    """A consumer message as far as a block needs one."""

    def __init__(self, partition: int, offset: int, value: bytes | None) -> None:
        self.partition, self.offset, self.value = partition, offset, value


def _decode(raw: Any) -> Message:
    return Message(f"t[{raw.partition}]", raw.offset, None, None, None, "", value=raw.value)


def _block(partition: int, first: int, values: list[bytes | None], stamp: int) -> MessageBlock:
    raws = [_Raw(partition, first + i, v) for i, v in enumerate(values)]
    end = {f"t[{partition}]": first + len(values)}
    return MessageBlock(values, end, stamp, raws, _decode)


def test_counts_positions_and_the_newest_timestamp() -> None:
    pending = Pending()
    pending.add(_block(0, 10, [b'{"a": 1}', b'{"a": 2}'], 500))
    pending.add([])
    pending.add([Message("t[1]", 7, 900, {"a": 3}, None, "")])
    pending.add(_block(0, 12, [b'{"a": 4}'], 700))
    assert len(pending) == 4
    assert pending.ends == {"t[0]": 13, "t[1]": 8}
    assert pending.newest_ms == 900
    assert pending.blocks() is None  # a decoded message among them
    assert [m.offset for m in pending.messages()] == [10, 11, 7, 12]


def test_blocks_decode_together_and_fall_back_on_a_bad_value() -> None:
    converter = Converter(None, None, {}, [])
    good = [json.dumps({"id": i}).encode() for i in range(5)]
    batch = build_blocks([_block(0, 0, good[:3], 1), _block(1, 0, good[3:], 1)], converter)
    assert batch is not None and batch.rows is not None
    assert batch.rows.column("id").to_pylist() == [0, 1, 2, 3, 4]
    assert build_blocks([_block(0, 0, [good[0], None], 1)], converter) is None
    bad = [_block(0, 0, [good[0], b"{cut", good[2]], 1)]
    assert build_blocks(bad, converter) is None
    pending = Pending()
    pending.add(bad[0])
    one_by_one = build(pending.messages(), converter, [], upsert=False)
    assert [(d.source, d.offset) for d in one_by_one.dirty] == [("t[0]", 1)]
    assert one_by_one.rows is not None and one_by_one.rows.num_rows == 2


def test_blocks_decoded_when_read_join_or_decode_again_when_their_columns_differ() -> None:
    converter = Converter(None, None, {}, [])
    first = _block(0, 0, [b'{"id": 1}', b'{"id": 2}'], 1)
    same = _block(1, 0, [b'{"id": 3}'], 1)
    wider = _block(1, 1, [b'{"id": 4, "note": "x"}'], 1)
    tombstone = _block(0, 2, [None], 1)
    for block in (first, same, wider, tombstone):
        decode_block(block)
    assert tombstone.rows is None  # left to the flush, which takes messages one by one
    joined = build_blocks([first, same], converter)
    assert joined is not None and joined.rows is not None
    assert joined.rows.column("id").to_pylist() == [1, 2, 3]
    union = build_blocks([first, wider], converter)
    assert union is not None and union.rows is not None
    assert union.rows.column("note").to_pylist() == [None, None, "x"]
    assert build_blocks([first, tombstone], converter) is None
