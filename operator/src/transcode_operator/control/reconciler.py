"""One queue turn for one job key: observe, plan, act (in one direction).

`app.context` gives `turn` to `control.controller.Controller` as its reconcile
function. `turn(deps, key)` gathers the observation (`control.observe`), asks
the pure `domain.reconcile.plan` once, and carries the plan out
(`control.act`); it returns the seconds until the key's next timer. A key
whose job is gone (deleted, its finalizer done) only drops what this process
kept about it.
"""

from __future__ import annotations

from transcode_operator.control import act, observe
from transcode_operator.control import deps as deps_module
from transcode_operator.domain import reconcile

Key = tuple[str, str]


async def turn(d: deps_module.Deps, key: Key) -> float | None:
    obs = await observe.observe(d, key)
    if obs is None:
        uid = d.informer.gone.pop(key, None)
        if uid is not None:
            d.metrics.job_removed(uid)
        d.memory.forget(key)
        if d.relay is not None:
            d.relay.forget(*key)
        return None
    return await act.act(d, obs, reconcile.plan(obs, d.cfg))
