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
from matplotlib.ticker import MaxNLocator

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


# A figure's title must say which data its numbers come from: one of these words (case-insensitive) appears
# in the figure's suptitle, or, without one, in every panel's title.  "worked example" is a figure of
# hand-made numbers (01, 02's eq. 1 demos), "synthetic" one of generated data.
DATA_WORDS = ("MNIST", "CIFAR", "MHIST", "ImageNet", "stand-in", "synthetic", "worked example")


class FigureError(ValueError):
    """A figure breaks one of the course's figure rules (see :func:`lint`); the message says which and how."""


def _titles(fig: plt.Figure) -> tuple[str | None, list[str]]:
    sup = fig.get_suptitle()
    panels = [ax.get_title() or ax.get_title("left") for ax in fig.axes if ax.get_visible() and not _is_colorbar(ax)]
    return (sup or None), panels


def _is_colorbar(ax) -> bool:
    return ax.get_label() == "<colorbar>"


def integer_epochs(fig: plt.Figure) -> None:
    """Integer ticks on every axis whose label mentions epochs (an epoch is a count, never 2.5)."""
    for ax in fig.axes:
        for axis, label in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
            if "epoch" in label.lower():
                axis.set_major_locator(MaxNLocator(integer=True))


def legend_outside(ax, loc: str = "upper left", anchor=(1.02, 1.0), **kwargs) -> None:
    """Move ``ax``'s legend outside the plotting area (right of it by default), so it covers no data."""
    if ax.get_legend() is not None:
        sns.move_legend(ax, loc, bbox_to_anchor=anchor, frameon=False, **kwargs)


def _data_points(ax) -> np.ndarray:
    """Display coordinates of what ``ax`` draws: line vertices (and points along each segment), scatter
    points, and the corners and centre of bars; reference lines spanning the axes count along their length."""
    pts = []
    for line in ax.lines:
        if not line.get_visible():
            continue
        xy = line.get_transform().transform(np.column_stack(line.get_data(orig=False)).astype(float))
        xy = xy[np.isfinite(xy).all(1)]
        if len(xy) >= 2:
            t = np.linspace(0, 1, 12)[:, None, None]
            xy = (xy[:-1][None] * (1 - t) + xy[1:][None] * t).reshape(-1, 2)
        pts.append(xy)
    for coll in ax.collections:   # scatter points (seaborn's error bands are PolyCollections: not data points)
        if coll.get_visible() and type(coll).__name__ == "PathCollection" and len(coll.get_offsets()):
            pts.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float)))
    for patch in ax.patches:
        if patch.get_visible() and type(patch).__name__ == "Rectangle" and patch.get_width() and patch.get_height():
            bb = patch.get_window_extent()
            pts.append(np.array([[bb.x0, bb.y0], [bb.x1, bb.y1], [bb.x0, bb.y1], [bb.x1, bb.y0],
                                 [(bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2]]))
    return np.concatenate(pts) if pts else np.empty((0, 2))


def _line_styles(ax) -> set:
    """The distinct (colour, line style) of the data lines drawn in ``ax``."""
    from matplotlib.colors import to_hex
    styles = set()
    for line in ax.lines:
        x, _ = line.get_data(orig=False)
        if line.get_visible() and len(np.atleast_1d(x)) >= 2 and line.get_linestyle() not in ("None", "", " "):
            styles.add((to_hex(line.get_color()), line.get_linestyle()))
    return styles


def lint(fig: plt.Figure) -> None:
    """Check the course's figure rules; raise :class:`FigureError` naming the first one broken.

    1. The title names the data set (a word of :data:`DATA_WORDS` in the suptitle, or in every panel title).
    2. No legend covers data: no line, point or bar of a panel falls inside a legend's box.
    3. Every line has a legend entry: a panel with lines of two or more styles has a legend (its own or the
       figure's) with at least as many entries as its distinct line colours.
    Epoch axes get integer ticks before the check (:func:`integer_epochs`).
    """
    sup, panels = _titles(fig)
    named = lambda text: any(w.lower() in (text or "").lower() for w in DATA_WORDS)
    if sup is not None:
        if not named(sup):
            raise FigureError(f"the figure title {sup!r} does not name its data set; add one of {DATA_WORDS}")
    else:
        titled = [t for t in panels if t]
        if not titled or not all(named(t) for t in titled):
            raise FigureError(f"panel titles {panels} do not all name their data set; add one of {DATA_WORDS} "
                              "to each, or give the figure a suptitle that does")
    fig.draw_without_rendering()   # lays out legends and ticks (window extents) without rasterising
    fig_entries = sum(len(leg.get_texts()) for leg in fig.legends)
    for ax in fig.axes:
        if _is_colorbar(ax) or not ax.get_visible():
            continue
        legends = [leg for leg in [ax.get_legend(), *fig.legends] if leg is not None]
        pts = _data_points(ax)
        for leg in legends:
            box = leg.get_window_extent()
            inside = ((pts[:, 0] > box.x0 + 1) & (pts[:, 0] < box.x1 - 1) &
                      (pts[:, 1] > box.y0 + 1) & (pts[:, 1] < box.y1 - 1)) if len(pts) else np.array([])
            if inside.any():
                raise FigureError(f"the legend of panel {ax.get_title()!r} covers {int(inside.sum())} of its data "
                                  "points; move it off the data (plots.legend_outside(ax), or loc=...)")
        styles = _line_styles(ax)
        if len(styles) >= 2:
            entries = (len(ax.get_legend().get_texts()) if ax.get_legend() is not None else 0) + fig_entries
            colours = len({c for c, _ in styles})
            if entries < colours:
                raise FigureError(f"panel {ax.get_title()!r} draws lines in {colours} colours but its legend has "
                                  f"{entries} entries; label every line (reference lines too: label=...)")


def save(fig: plt.Figure, name: str, data=None, run: config.Run | None = None) -> Path:
    """Save ``fig`` as PNG plus a JSON sidecar of ``data`` and the run manifest; return the PNG path.

    The figure is checked first (:func:`lint`): a figure that breaks a rule raises :class:`FigureError`
    and nothing is written.
    """
    run, folder = _output(run)
    integer_epochs(fig)
    lint(fig)
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
    integer_epochs(ax.figure)
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


def heatmap(matrix, labels, title: str, xlabel: str, ylabel: str, ax=None, fmt: str = "d", cmap="Blues",
            vmin: float | None = None, vmax: float | None = None, cbar: bool = True, annot: bool = True,
            annot_size: float | None = None, cbar_ax=None):
    """Annotated heat map (a confusion matrix, a correlation difference).

    Pass the same ``vmin``/``vmax`` to panels that are compared (:func:`confusion_panels` does).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5.5))
    sns.heatmap(np.asarray(matrix), annot=annot, fmt=fmt, cmap=cmap, xticklabels=labels, yticklabels=labels,
                ax=ax, cbar=cbar, cbar_ax=cbar_ax, square=True, vmin=vmin, vmax=vmax,
                annot_kws=None if annot_size is None else {"size": annot_size})
    return _finish(ax, title, xlabel, ylabel)


def confusion_panels(matrices: dict, labels, title: str, xlabel: str = "predicted", ylabel: str = "true",
                     fmt: str = "d", cmap: str = "Blues", size: float = 4.6):
    """Side-by-side confusion matrices on one colour scale: 0 to the largest count, one colour bar beside them
    (in an axes of its own, so every panel has the same size)."""
    mats = {k: np.asarray(v) for k, v in matrices.items()}
    vmax = max(float(m.max()) for m in mats.values())
    n = len(mats)
    fig, axes = plt.subplots(1, n + 1, figsize=(size * n + 0.8, size),
                             gridspec_kw={"width_ratios": [1] * n + [0.05], "wspace": 0.35})
    for i, (ax, (name, m)) in enumerate(zip(axes[:n], mats.items())):
        heatmap(m, labels, name, xlabel, ylabel if i == 0 else "", ax=ax, fmt=fmt, cmap=cmap, vmin=0.0,
                vmax=vmax, cbar=i == n - 1, cbar_ax=axes[n] if i == n - 1 else None)
    axes[n].set_label("<colorbar>")
    fig.suptitle(title, fontweight="bold")
    return fig


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
