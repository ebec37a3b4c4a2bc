"""The console's DAG layout: layers follow dependencies, crossings are cut, boxes
never overlap, and a 1,000-node graph is laid out at once."""

from __future__ import annotations

import itertools

from lakeworks.web.layout import MIN_WIDTH, NODE_HEIGHT, label_width, layers_of, layout


def test_every_node_sits_right_of_the_nodes_it_depends_on() -> None:
    edges = [("a", "b"), ("b", "c"), ("a", "c"), ("d", "c")]
    layers = layers_of(["a", "b", "c", "d"], edges)
    assert layers == {"a": 0, "b": 1, "c": 2, "d": 0}
    boxes, width, height = layout(["a", "b", "c", "d"], edges, {})
    for parent, child in edges:
        assert boxes[parent].x + boxes[parent].width < boxes[child].x
    assert width >= boxes["c"].x + MIN_WIDTH and height >= NODE_HEIGHT


def test_children_are_ordered_next_to_their_parents() -> None:
    # two chains whose first layer starts crossed: p2's child is listed first
    ids = ["p1", "p2", "c2", "c1"]
    boxes, _, _ = layout(ids, [("p1", "c1"), ("p2", "c2")], {})
    assert (boxes["c1"].y < boxes["c2"].y) == (boxes["p1"].y < boxes["p2"].y)


def test_boxes_of_one_layer_do_not_overlap_and_fit_their_labels() -> None:
    ids = [f"n{i}" for i in range(6)]
    widths = {n: label_width("sales_pipeline.a_long_node_name_" + n) for n in ids}
    boxes, _, _ = layout(ids, [], widths)
    ys = sorted(b.y for b in boxes.values())
    assert all(b - a >= NODE_HEIGHT for a, b in itertools.pairwise(ys))
    assert all(boxes[n].width == widths[n] > MIN_WIDTH for n in ids)


def test_a_cycle_or_an_unknown_node_does_not_break_the_layout() -> None:
    boxes, _, _ = layout(["a", "b"], [("a", "b"), ("b", "a"), ("a", "zz")], {})
    assert set(boxes) == {"a", "b"}
    assert layout([], [], {}) == ({}, 0.0, 0.0)


def test_a_thousand_node_graph_is_laid_out() -> None:
    ids = list(range(1000))
    edges = [((n - 1) // 2, n) for n in range(1, 1000)] + [(n - 7, n) for n in range(7, 1000, 5)]
    boxes, width, height = layout(ids, edges, {})
    assert len(boxes) == 1000
    assert all(boxes[a].x < boxes[b].x for a, b in edges)
    assert width > 0 and height > 0
