"""The reproduction scorecard: one row per headline claim of a seed report, written by the notebook that measures it.

``figures/scorecard.json`` (``figures/paper/scorecard.json`` for real paper
runs, ``build/figures-<profile>/`` otherwise) is a JSON list of rows with the
keys of :data:`KEYS`.  Each notebook builds its rows with :func:`compare` (a
claim that one method beats another, or trails it) or :func:`value` (a claim
about one number, e.g. Hinton et al.'s 74 test errors) and hands them to
:func:`record`, which replaces that notebook's earlier rows and keeps every
other notebook's: the file is rewritten atomically, so a notebook that stops
half-way loses nothing already there.  ``python -m kdcourse report`` opens
REPORT.md with the table.

Verdicts (:data:`VERDICTS`)
---------------------------
reproduced      the effect has the source's sign and is larger than 2 x the seed-to-seed standard deviation
                (:func:`kdcourse.metrics.verdict`, the package's one rule); for a value claim, our mean is within
                the claim's tolerance of the source's number
within noise    |effect| < 2 x std: neither the source's sign nor the opposite one shows beyond noise
reversed        the effect is beyond noise with the opposite sign; for a value claim, our mean misses the
                tolerance on the side the claim argues against (e.g. more errors than the source's)
not run         the notebook did not measure it in this profile (the row says why in ``claim``)
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import config, metrics
from .io import atomic_write_text, file_lock

KEYS = ("notebook", "claim", "source", "source_value", "ours_mean", "ours_std", "seeds", "profile", "data",
        "verdict")
VERDICTS = ("reproduced", "within noise", "reversed", "not run")
FILE = "scorecard.json"


def _clean(x):
    """A float rounded for the file, or None for a missing number (JSON has no NaN)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(float(x), 6)


def _row(claim: str, source: str, source_value, ours_mean, ours_std, seeds: int, data: str, verdict: str,
         run: config.Run | None, **extra) -> dict:
    run = run or config.current()
    if run is None:
        raise RuntimeError("call kdcourse.start(notebook) before building scorecard rows: a row names its notebook")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    return {"notebook": run.notebook, "claim": claim, "source": source, "source_value": source_value,
            "ours_mean": _clean(ours_mean), "ours_std": _clean(ours_std), "seeds": int(seeds),
            "profile": config.label(run.profile), "data": data, "verdict": verdict, **extra}


def compare(claim: str, source: str, source_value, ours: Sequence[float], baseline: Sequence[float] | float,
            data: str, expect: str = "higher", run: config.Run | None = None, unit: str = "") -> dict:
    """A row for "``ours`` is ``expect`` (higher / lower / not higher) than ``baseline``", the source's claim.

    ``ours`` and ``baseline`` hold one score per seed (a single number for a baseline measured once, such as
    one shared teacher).  ``ours_mean`` is the effect mean(ours) - mean(baseline) and ``ours_std`` the larger
    seed-to-seed standard deviation of the two sides; the verdict is :func:`kdcourse.metrics.verdict`'s,
    read against the source's sign (``expect``).  ``"not higher"`` is a null claim ("X brings no gain over Y"):
    reproduced unless ``ours`` is higher beyond noise (then reversed).  ``source_value``: the source's effect
    in the same unit (a number), or its words where it gives none.
    """
    if expect not in ("higher", "lower", "not higher"):
        raise ValueError(f"expect must be 'higher', 'lower' or 'not higher', got {expect!r}")
    gain, noise, word = metrics.verdict(ours, baseline)
    if expect == "not higher":
        verdict = "reversed" if word != "within noise" and gain > 0 else "reproduced"
    elif word == "within noise":
        verdict = "within noise"
    else:
        verdict = "reproduced" if (gain > 0) == (expect == "higher") else "reversed"
    return _row(claim, source, source_value, gain, noise / 2, len(pd.Series(ours)), data, verdict, run,
                noise_2std=_clean(noise), unit=unit)


def value(claim: str, source: str, source_value: float, ours: Sequence[float], data: str, tolerance: float,
          worse: str = "higher", run: config.Run | None = None, unit: str = "") -> dict:
    """A row for a claim about one number: our per-seed values against the source's ``source_value``.

    Reproduced when |mean - source_value| <= ``tolerance`` (the claim says which, e.g. "within 15 errors")
    or when the mean is past the source's number on the better side (fewer errors than the mark); "reversed"
    when it misses the tolerance on the ``worse`` side (``"higher"``: more errors than the source).
    """
    if worse not in ("higher", "lower"):
        raise ValueError(f"worse must be 'higher' or 'lower', got {worse!r}")
    s = pd.Series(ours, dtype=float)
    if s.empty:
        raise ValueError("value() needs at least one measured value")
    mean, std = s.mean(), (s.std() if len(s) > 1 else float("nan"))
    miss = mean - source_value
    if abs(miss) <= tolerance or (miss < 0) == (worse == "higher"):
        verdict = "reproduced"
    else:
        verdict = "reversed"
    return _row(claim, source, source_value, mean, std, len(s), data, verdict, run, tolerance=tolerance,
                unit=unit)


def interval(claim: str, source: str, source_value, mean: float, low: float, high: float, n: int, data: str,
             expect: str = "lower", std: float | None = None, run: config.Run | None = None, unit: str = "") -> dict:
    """A row for a claim about the sign of one measured quantity with a 95 % confidence interval [low, high]
    (e.g. a correlation over images, where the seeds are the images): reproduced when the interval lies on the
    ``expect`` side of 0 (``"lower"``: below it), reversed when it lies on the other, within noise when it
    holds 0.  ``n`` goes into the ``seeds`` column (say in ``claim`` what it counts)."""
    if expect not in ("higher", "lower"):
        raise ValueError(f"expect must be 'higher' or 'lower', got {expect!r}")
    if not low <= mean <= high:
        raise ValueError(f"the interval [{low}, {high}] must hold the mean {mean}")
    if low <= 0 <= high:
        verdict = "within noise"
    else:
        verdict = "reproduced" if (low > 0) == (expect == "higher") else "reversed"
    return _row(claim, source, source_value, mean, std, n, data, verdict, run, ci95=[_clean(low), _clean(high)],
                unit=unit)


def not_run(claim: str, source: str, source_value, data: str, run: config.Run | None = None) -> dict:
    """A row for a headline this profile does not measure (``claim`` says why)."""
    return _row(claim, source, source_value, None, None, 0, data, "not run", run)


def path(run: config.Run | None = None) -> Path:
    run = run or config.current()
    return config.figures_dir(run.profile) / FILE if run is not None else config.figures_dir() / FILE


def load(file: Path) -> list[dict]:
    """The rows in ``file`` ([] when it does not exist); a file that is not a scorecard raises, untouched."""
    if not file.exists():
        return []
    try:
        rows = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file} is not valid JSON ({exc}); it was left as it is: move it aside and rerun the "
                         "notebooks to rebuild it") from None
    if not isinstance(rows, list) or any(not isinstance(r, dict) or set(KEYS) - set(r) for r in rows):
        raise ValueError(f"{file} is not a scorecard (a list of rows with the keys {KEYS}); it was left as it is")
    return rows


def record(rows: list[dict], run: config.Run | None = None) -> pd.DataFrame:
    """Replace the current notebook's rows in the profile's scorecard with ``rows``; return them as a table.

    The other notebooks' rows are kept, in notebook order; the file is rewritten atomically under a lock."""
    run = run or config.current()
    if run is None:
        raise RuntimeError("call kdcourse.start(notebook) before recording scorecard rows")
    strangers = sorted({r["notebook"] for r in rows} - {run.notebook})
    if strangers:
        raise ValueError(f"notebook {run.notebook} may record only its own rows, not those of {strangers}")
    file = path(run)
    file.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(file, "updating the scorecard"):
        kept = [r for r in load(file) if r["notebook"] != run.notebook]
        merged = sorted(kept + list(rows), key=lambda r: r["notebook"])   # stable: a notebook's order is kept
        atomic_write_text(file, json.dumps(merged, indent=1) + "\n")
    return table(rows)


def table(rows: list[dict]) -> pd.DataFrame:
    """The rows as a DataFrame with the keys of :data:`KEYS` first."""
    df = pd.DataFrame(rows)
    return df[[*KEYS, *[c for c in df.columns if c not in KEYS]]] if len(df) else pd.DataFrame(columns=KEYS)
