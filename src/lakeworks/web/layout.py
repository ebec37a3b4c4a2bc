"""Layered layout of a DAG for the console's pictures (pure: no I/O).

Sugiyama-style in linear passes: each node's layer is its longest path from a source,
nodes are ordered within their layer by a few barycenter sweeps (down, then up) to cut
edge crossings, and placed on a grid of columns. Done on the server because the
browser libraries (dagre, ELK) took 5-20 s for 1,000 nodes on a loaded 2-core machine;
this takes tens of milliseconds, so a page's DAG is ready as soon as it arrives.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

NODE_HEIGHT = 44
ROW_GAP = 14
COLUMN_GAP = 56
MIN_WIDTH = 150
MAX_WIDTH = 320
CHAR_WIDTH = 7.4
SWEEPS = 4


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float = NODE_HEIGHT


def label_width(label: str, sub: str = "") -> float:
    """The width a node needs for its label and second line (clamped)."""
    wanted = max(len(label), len(sub) * 0.85) * CHAR_WIDTH + 24
    return min(max(wanted, MIN_WIDTH), MAX_WIDTH)


def layers_of(
    ids: Sequence[Hashable], edges: Sequence[tuple[Hashable, Hashable]]
) -> dict[Hashable, int]:
    """Longest-path layer of each node (sources are layer 0); nodes on a cycle, which a
    DAG never has, stay in the layer they reached."""
    known = set(ids)
    children: dict[Hashable, list[Hashable]] = defaultdict(list)
    indegree = dict.fromkeys(ids, 0)
    for parent, child in edges:
        if parent in known and child in known and parent != child:
            children[parent].append(child)
            indegree[child] += 1
    layer = dict.fromkeys(ids, 0)
    queue = deque(n for n in ids if indegree[n] == 0)
    while queue:
        node = queue.popleft()
        for child in children[node]:
            layer[child] = max(layer[child], layer[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    return layer


def layout(
    ids: Sequence[Hashable],
    edges: Sequence[tuple[Hashable, Hashable]],
    widths: dict[Hashable, float],
) -> tuple[dict[Hashable, Box], float, float]:
    """Boxes of every node (left to right by layer), and the drawing's width and height."""
    if not ids:
        return {}, 0.0, 0.0
    layer = layers_of(ids, edges)
    count = max(layer.values()) + 1
    columns: list[list[Hashable]] = [[] for _ in range(count)]
    for node in ids:
        columns[layer[node]].append(node)
    parents: dict[Hashable, list[Hashable]] = defaultdict(list)
    kids: dict[Hashable, list[Hashable]] = defaultdict(list)
    for parent, child in edges:
        if parent in layer and child in layer and parent != child:
            parents[child].append(parent)
            kids[parent].append(child)
    position = {node: float(i) for column in columns for i, node in enumerate(column)}
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        order = range(1, count) if down else range(count - 2, -1, -1)
        for index in order:
            column = columns[index]
            near = parents if down else kids

            def centre(node: Hashable, near: dict[Hashable, list[Hashable]] = near) -> float:
                linked = near.get(node)
                if not linked:
                    return position[node]
                return sum(position[n] for n in linked) / len(linked)

            column.sort(key=centre)
            for i, node in enumerate(column):
                position[node] = float(i)
    tallest = max(len(column) for column in columns)
    row = NODE_HEIGHT + ROW_GAP
    boxes: dict[Hashable, Box] = {}
    x = 0.0
    for column in columns:
        width = max(widths.get(node, MIN_WIDTH) for node in column)
        offset = (tallest - len(column)) * row / 2
        for i, node in enumerate(column):
            boxes[node] = Box(x, offset + i * row, widths.get(node, MIN_WIDTH))
        x += width + COLUMN_GAP
    return boxes, x - COLUMN_GAP, tallest * row - ROW_GAP
