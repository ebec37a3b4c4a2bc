"""Loop nodes. For-each: its body (the nodes of a sub-folder) run once per item.

Each iteration is a run of its own (``for-each <node> item k/n: <item>``) whose
instances the Operations Center lists like any other, with ``${dag.foreach.current}``,
``${dag.offset}`` (from 0) and ``${dag.loopTimes}`` (from 1) set; shell and Python
nodes also get them as ``dag_foreach_current``, ``dag_offset``, ``dag_loopTimes``.
Iterations run ``parallel`` at a time. Each one's state is recorded with the for-each
instance, so a rerun of it runs only the iterations that did not succeed.

Do-while: the body runs, then the output of its end node decides (``true`` goes on),
at most ``max_loops`` times; each loop is a run like an iteration.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from lakeworks.controlflow.body_runs import close_lost_runs, run_body
from lakeworks.errors import UserCodeError, UserError
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.schedule.graph import build_graph
from lakeworks.spec.models import MAX_LOOP_ITEMS, DoWhileConfig, ForeachConfig
from lakeworks.spec.outputs import decode_output, loop_items
from lakeworks.store.database import Database
from lakeworks.store.outputs import OutputRepository


def loop_parameters(item: str, offset: int) -> dict[str, str]:
    values = {"dag.foreach.current": item, "dag.offset": str(offset)}
    values["dag.loopTimes"] = str(offset + 1)
    values.update({k.replace(".", "_"): v for k, v in list(values.items())})
    return values


def run_foreach_node(ctx: NodeRunContext) -> NodeResult:
    """Run the body once per item; fail naming the iterations that failed."""
    node = ctx.node
    config = node.config
    assert isinstance(config, ForeachConfig)
    items = loop_items(ctx.inputs.get(config.items))
    if len(items) > MAX_LOOP_ITEMS:
        raise UserError(
            f"{node.path.name}: input '{config.items}' has {len(items):,} items, "
            f"over the limit of {MAX_LOOP_ITEMS:,}",
            hint="split the work: loop over groups of items, or filter the list",
        )
    db = ctx.extras.get("db")
    if not isinstance(db, Database) or ctx.instance_id is None:
        raise UserError("for-each nodes run only as recorded instances")
    instance_id = ctx.instance_id
    store = OutputRepository(db)
    lost = close_lost_runs(db, instance_id)
    if lost:
        ctx.log(f"iterations {', '.join(str(o + 1) for o in lost)} were cut short: run again")
    done = {
        it.offset
        for it in store.iterations(instance_id)
        if it.state == "success" and it.offset < len(items) and it.item == items[it.offset]
    }
    body = ctx.workspace.body_of(node)
    graph = build_graph(body)  # once: every iteration runs the same body
    total = len(items)
    ctx.log(f"{total} items, {config.parallel} at a time" + (f", {len(done)} done" if done else ""))

    def one(offset: int) -> bool:
        item = items[offset]
        label = f"item {offset + 1}/{total}: {item}"
        if offset in done:
            ctx.log(f"{label}: succeeded before, not run again")
            return True
        if ctx.cancel.is_set():
            return False
        summary = run_body(
            ctx,
            db,
            body,
            offset,
            item,
            {**ctx.params.parameters, **loop_parameters(item, offset)},
            f"for-each {node.key} {label}",
            graph=graph,
        )
        state = "success" if summary.ok else "failed"
        ctx.log(f"{label}: {state} (run {summary.run.id})")
        return summary.ok

    with ThreadPoolExecutor(max_workers=config.parallel) as pool:
        results = list(pool.map(one, range(total)))
    failed = [offset for offset, ok in enumerate(results) if not ok]
    if failed:
        shown = ", ".join(f"{o + 1} ({items[o]})" for o in failed[:10])
        raise UserCodeError(f"{len(failed)} of {total} iterations failed: item {shown}")
    ctx.log(f"{total} iterations succeeded")
    return NodeResult(rendered_code=node.code, detail={"iterations": total})


_GO_ON = {"true", "1", "yes"}


def _says_go_on(text: str | None) -> bool:
    """Whether an end node's stored output asks for another loop (first item true)."""
    value = loop_items(decode_output(text)) if text else []
    return bool(value) and value[0].strip().lower() in _GO_ON


def run_dowhile_node(ctx: NodeRunContext) -> NodeResult:
    """Run the body, then again while its end node's output says true."""
    node = ctx.node
    config = node.config
    assert isinstance(config, DoWhileConfig)
    db = ctx.extras.get("db")
    if not isinstance(db, Database) or ctx.instance_id is None:
        raise UserError("do-while nodes run only as recorded instances")
    body = ctx.workspace.body_of(node)
    graph = build_graph(body)
    end_key = f"{node.workflow}/{config.body}.{config.end}"
    store = OutputRepository(db)
    close_lost_runs(db, ctx.instance_id)
    for offset in range(config.max_loops):
        label = f"loop {offset + 1}"
        if ctx.cancel.is_set():
            raise UserCodeError(f"stopped before {label}")
        summary = run_body(
            ctx,
            db,
            body,
            offset,
            str(offset),
            {**ctx.params.parameters, **loop_parameters(str(offset), offset)},
            f"do-while {node.key} {label}",
            graph=graph,
        )
        if not summary.ok:
            raise UserCodeError(f"{label} failed (run {summary.run.id})")
        end = next((i for i in summary.instances if i.node_key == end_key), None)
        if end is None or not _says_go_on(store.get(end.id)):
            ctx.log(f"{label}: {config.end} says stop after {offset + 1} loops")
            return NodeResult(rendered_code=node.code, detail={"loops": offset + 1})
        ctx.log(f"{label}: {config.end} says go on")
    raise UserCodeError(
        f"{config.end} still says true after {config.max_loops:,} loops (the limit)"
    )
