"""The best epoch and early stopping, never on test data (:class:`~kdcourse.engine.spec.Selection`)."""
from __future__ import annotations

from torch import nn

from .spec import Selection


def _key(metric: str, value: float) -> float:
    """Lower is better: accuracies are negated."""
    return -value if metric.endswith("acc") else value


class Selector:
    """Follows a run epoch by epoch: the best row so far, its weights, and whether to stop.

    ``update(row, model)`` after every epoch.  The row is the new best when its
    primary metric beats the best one's (ties broken by the secondary); the
    patience counter resets when either metric beats its own best so far.
    ``state`` is what a checkpoint stores to resume the selection exactly.
    """

    def __init__(self, selection: Selection, state: dict | None = None):
        self.selection = selection
        state = state or {}
        self.best, self.stale, self.stopped = state.get("best"), state.get("stale", 0), state.get("stopped", False)

    def update(self, row: dict, model: nn.Module) -> None:
        sel, best = self.selection, self.best
        p = -float(row["epoch"]) if sel.primary == "last" else _key(sel.primary, row[sel.primary])
        s = _key(sel.secondary, row[sel.secondary]) if sel.secondary else 0.0
        if best is None:
            is_best = improved = True
            best = self.best = {"primary_run": p, "secondary_run": s}
        else:
            is_best = p < best["primary"] or (p == best["primary"] and s < best["secondary"])
            improved = p < best["primary_run"] or (sel.secondary is not None and s < best["secondary_run"])
        best["primary_run"], best["secondary_run"] = min(best["primary_run"], p), min(best["secondary_run"], s)
        if is_best:
            best.update(epoch=row["epoch"], primary=p, secondary=s,
                        state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        self.stale = 0 if improved else self.stale + 1
        self.stopped = sel.patience is not None and self.stale >= sel.patience

    @property
    def best_epoch(self) -> int:
        return int(self.best["epoch"])

    @property
    def state(self) -> dict:
        return {"best": self.best, "stale": self.stale, "stopped": self.stopped}
