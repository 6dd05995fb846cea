"""One seaborn style, one function per kind of report figure, and ``save``.

``save(fig, "accuracy_vs_epochs", data)`` writes
``<figures>/<notebook>/accuracy_vs_epochs.png`` (fixed metadata, so the same
figure gives the same bytes) and a ``.json`` sidecar holding the plotted
numbers and the run manifest (profile, data sources, seed, commit, versions,
device, wall time).  Smoke runs write under ``build/``, never into figures/.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from . import config
from .io import atomic_write, atomic_write_text

PALETTE = "colorblind"


def style() -> None:
    """The course's one plotting style."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "figure.autolayout": False,
                         "axes.titlesize": 12, "axes.titleweight": "bold"})


def _jsonable(obj):
    if isinstance(obj, pd.DataFrame):
        return obj.reset_index().to_dict(orient="records") if obj.index.name else obj.to_dict(orient="records")
    if isinstance(obj, pd.Series):
        return obj.to_dict()
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _output(run: config.Run | None) -> tuple[config.Run, Path]:
    """The run a figure or table belongs to, and its folder (never figures/ for a smoke run)."""
    run = run or config.current()
    if run is None:
        raise RuntimeError("call kdcourse.start(notebook) before saving figures or tables, "
                           "so they carry a run manifest")
    folder = run.figures
    if run.profile == "smoke" and (config.REPO / "figures") in [folder, *folder.parents]:
        raise RuntimeError(f"smoke runs must not write into figures/ (got {folder}); unset KDCOURSE_FIGURES")
    return run, folder


def save(fig: plt.Figure, name: str, data=None, run: config.Run | None = None) -> Path:
    """Save ``fig`` as PNG plus a JSON sidecar of ``data`` and the run manifest; return the PNG path."""
    run, folder = _output(run)
    png = folder / f"{name}.png"
    atomic_write(png, lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight",
                                              metadata={"Software": None}))
    sidecar = {"figure": f"{run.notebook}/{name}", "data": _jsonable(data), "manifest": run.manifest()}
    atomic_write_text(png.with_suffix(".json"), json.dumps(sidecar, indent=1) + "\n")
    return png


def save_table(df: pd.DataFrame, name: str, caption: str, run: config.Run | None = None) -> Path:
    """Save a results table as ``<name>.table.json`` (rows, caption, run manifest) beside the figures.

    ``python -m kdcourse report`` gathers every saved table into REPORT.md.
    """
    run, folder = _output(run)
    flat = df.reset_index() if (df.index.name or any(df.index.names)) else df.copy()
    flat.columns = [" ".join(map(str, c)).strip() if isinstance(c, tuple) else str(c) for c in flat.columns]
    payload = {"table": f"{run.notebook}/{name}", "caption": caption, "columns": list(flat.columns),
               "rows": _jsonable(flat.to_dict(orient="records")), "manifest": run.manifest()}
    path = folder / f"{name}.table.json"
    atomic_write_text(path, json.dumps(payload, indent=1) + "\n")
    return path


def _finish(ax, title: str, xlabel: str | None, ylabel: str | None):
    ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    return ax.figure


def lines(df: pd.DataFrame, x: str, y: str, title: str, xlabel: str, ylabel: str, hue: str | None = None,
          style_col: str | None = None, ax=None, logx: bool = False, errorbar=("sd", 1), marker="o"):
    """Line plot (mean with a standard-deviation band when several rows share an x)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    sns.lineplot(data=df, x=x, y=y, hue=hue, style=style_col, ax=ax, errorbar=errorbar, marker=marker,
                 palette=PALETTE if hue else None)
    if logx:
        ax.set_xscale("log", base=2)
    return _finish(ax, title, xlabel, ylabel)


def bars(df: pd.DataFrame, x: str, y: str, title: str, ylabel: str, hue: str | None = None, ax=None,
         log: bool = False, annotate: bool = True, fmt: str = "{:,.0f}"):
    """Bar chart, each bar labelled with its value."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    sns.barplot(data=df, x=x, y=y, hue=hue if hue else x, ax=ax, palette=PALETTE, legend=bool(hue))
    if log:
        ax.set_yscale("log")
    if annotate:
        for container in ax.containers:
            ax.bar_label(container, labels=[fmt.format(v) for v in container.datavalues], fontsize=9)
    return _finish(ax, title, None, ylabel)


def histogram(values, title: str, xlabel: str, bins: int = 30, ax=None, vline: float | None = None,
              vline_label: str | None = None):
    """Histogram of a 1-D sample, with an optional reference line (e.g. the maximum entropy)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    sns.histplot(x=np.asarray(values), bins=bins, ax=ax, color=sns.color_palette(PALETTE)[0])
    if vline is not None:
        ax.axvline(vline, color="black", ls="--", lw=1, label=vline_label)
        if vline_label:
            ax.legend()
    return _finish(ax, title, xlabel, "number of images")


def heatmap(matrix, labels, title: str, xlabel: str, ylabel: str, ax=None, fmt: str = "d", cmap="Blues"):
    """Annotated heat map (a confusion matrix, a correlation difference)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5.5))
    sns.heatmap(np.asarray(matrix), annot=True, fmt=fmt, cmap=cmap, xticklabels=labels,
                yticklabels=labels, ax=ax, cbar=True, square=True)
    return _finish(ax, title, xlabel, ylabel)


def image_grid(images, title: str, row_labels=None, col_labels=None, cmap: str = "gray", size: float = 1.5,
               colorbar: bool = False):
    """A rows x columns grid of images (saliency maps, exemplars), each scaled to its own range.

    ``images``: array-like (R, K, H, W) of grey-scale maps or (R, K, H, W, 3) RGB
    images in [0, 1]; labels name the rows (left) and columns (top).
    """
    arr = np.asarray(images.detach().cpu() if isinstance(images, torch.Tensor) else images)
    if arr.ndim not in (4, 5):
        raise ValueError(f"images must be (rows, cols, H, W[, 3]), got shape {arr.shape}")
    rows, cols = arr.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + (0.6 if colorbar else 0), size * rows + 0.5),
                             squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            im = ax.imshow(arr[r, c], cmap=None if arr.ndim == 5 else cmap)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if colorbar and arr.ndim == 4:
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
            if col_labels is not None and r == 0:
                ax.set_title(str(col_labels[c]), fontsize=9, fontweight="normal")
            if row_labels is not None and c == 0:
                ax.set_ylabel(str(row_labels[r]), fontsize=9)
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig
