"""save(): PNG + JSON sidecar, byte-stable, never into figures/ from a smoke run."""
import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from kdcourse import config, experiments, plots


def _figure():
    plots.style()
    df = pd.DataFrame({"T": [1, 2, 4, 1, 2, 4], "acc": [0.9, 0.92, 0.95, 0.91, 0.93, 0.94]})
    return plots.lines(df, "T", "acc", title="MNIST: accuracy vs T", xlabel="T", ylabel="accuracy"), df


def test_save_writes_png_and_sidecar_byte_stable(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_FIGURES", str(tmp_path))
    experiments.start("02_mnist_kd", profile="cpu", show=False)
    fig, df = _figure()
    png = plots.save(fig, "acc_vs_T", data=df)
    first = png.read_bytes()
    plots.save(fig, "acc_vs_T", data=df)
    assert png.read_bytes() == first and first[:8] == b"\x89PNG\r\n\x1a\n"
    side = json.loads(png.with_suffix(".json").read_text())
    assert side["figure"] == "02_mnist_kd/acc_vs_T" and side["data"][2] == {"T": 4, "acc": 0.95}
    assert side["manifest"]["profile"] == "cpu"
    assert fig.axes[0].get_xlabel() == "T" and "MNIST" in fig.axes[0].get_title()
    plt.close(fig)


def test_smoke_run_refuses_figures_folder(monkeypatch):
    monkeypatch.setenv("KDCOURSE_FIGURES", str(config.REPO / "figures"))
    experiments.start("02_mnist_kd", profile="smoke", show=False)
    fig, _ = _figure()
    with pytest.raises(RuntimeError, match="smoke runs must not write into figures/"):
        plots.save(fig, "x")
    plt.close(fig)


def test_save_needs_a_run():
    fig, _ = _figure()
    with pytest.raises(RuntimeError, match="kdcourse.start"):
        plots.save(fig, "x")
    plt.close(fig)


def test_save_table_and_report(tmp_path, monkeypatch):
    from kdcourse import report
    monkeypatch.setenv("KDCOURSE_FIGURES", str(tmp_path))
    experiments.start("02_mnist_kd", profile="cpu", show=False)
    df = pd.DataFrame({"model": ["student, KD", "student alone"], "test acc": [0.9851, 0.9817],
                       "source (Hinton 2015)": ["74 errors", "146 errors"]}).set_index("model")
    path = plots.save_table(df, "results", "MNIST: test accuracy, mean of 3 seeds")
    payload = json.loads(path.read_text())
    assert payload["columns"] == ["model", "test acc", "source (Hinton 2015)"]
    assert payload["rows"][1]["test acc"] == 0.9817 and payload["manifest"]["profile"] == "cpu"
    fig, _ = _figure()
    plots.save(fig, "curve", data={"x": [1]})
    plt.close(fig)
    out = report.build(figures=tmp_path, out=tmp_path / "REPORT.md")
    text = out.read_text()
    assert "## 02_mnist_kd" in text and "**MNIST: test accuracy, mean of 3 seeds**" in text
    assert "| student alone | 0.9817 | 146 errors |" in text
    assert "[curve](02_mnist_kd/curve.png)" in text and "Profile `cpu`" in text
    assert "_Why they differ from the source:_ Sections 4-7 follow seed 004" in text


def test_report_command_help_writes_nothing(tmp_path, capsys):
    from kdcourse.__main__ import main
    with pytest.raises(SystemExit) as stop:
        main(["report", "--help"])
    assert stop.value.code == 0 and "--figures" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(["no-such-command"])
    assert stop.value.code == 2


def test_every_notebook_has_a_why_entry():
    from kdcourse import report
    notebooks = sorted(p.stem for p in (config.REPO / "notebooks").glob("0*.ipynb"))
    assert set(report.WHY) == set(notebooks) - {"01_temperature"}


# ---- the figure rules (plots.lint, run by save) --------------------------------------------------------------

def _two_lines(title="MNIST: accuracy per epoch", legend=True, loc="best", ref_label="teacher"):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    epochs = [1, 2, 3, 4, 5]
    ax.plot(epochs, [0.5, 0.6, 0.7, 0.75, 0.8], label="student")
    ax.axhline(0.9, color="black", ls="--", label=ref_label)
    ax.set(title=title, xlabel="epoch", ylabel="accuracy")
    if legend:
        ax.legend(loc=loc)
    return fig, ax


def test_lint_passes_a_figure_that_follows_the_rules():
    fig, ax = _two_lines()
    plots.legend_outside(ax)
    plots.lint(fig)
    plt.close(fig)


@pytest.mark.parametrize("title", ["accuracy per epoch", "Student vs teacher"])
def test_lint_refuses_a_title_without_its_data_set(title):
    fig, ax = _two_lines(title=title)
    plots.legend_outside(ax)
    with pytest.raises(plots.FigureError, match="does not|do not all name their data set"):
        plots.lint(fig)
    fig.suptitle("CIFAR-100: the same figure")                     # a suptitle that names it is enough
    plots.lint(fig)
    plt.close(fig)


def test_lint_refuses_a_legend_over_the_data():
    fig, ax = _two_lines(loc="center")
    ax.plot([1, 2, 3, 4, 5], [0.8, 0.8, 0.8, 0.8, 0.8], color="C2", label="flat")   # runs under a centred legend
    ax.legend(loc="center")
    with pytest.raises(plots.FigureError, match="covers"):
        plots.lint(fig)
    plots.legend_outside(ax)
    plots.lint(fig)
    plt.close(fig)


def test_lint_refuses_a_line_without_a_legend_entry():
    fig, ax = _two_lines(ref_label="_nolegend_")
    plots.legend_outside(ax)
    with pytest.raises(plots.FigureError, match="2 colours but its legend has 1"):
        plots.lint(fig)
    plt.close(fig)
    fig, ax = _two_lines(legend=False)
    with pytest.raises(plots.FigureError, match="legend has 0"):
        plots.lint(fig)
    plt.close(fig)


def test_epoch_axes_get_integer_ticks_and_save_refuses_a_broken_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_FIGURES", str(tmp_path))
    experiments.start("02_mnist_kd", profile="cpu", show=False)
    fig, ax = _two_lines(title="accuracy")
    plots.legend_outside(ax)
    with pytest.raises(plots.FigureError):
        plots.save(fig, "broken")
    assert not list(tmp_path.rglob("broken*")), "a figure that breaks a rule must write nothing"
    ax.set_title("MNIST: accuracy per epoch")
    plots.save(fig, "fixed")
    ticks = ax.xaxis.get_major_locator()()
    assert all(float(t).is_integer() for t in ticks)
    plt.close(fig)


def test_confusion_panels_share_one_colour_scale():
    a, b = [[50, 2], [3, 45]], [[10, 1], [0, 9]]
    fig = plots.confusion_panels({"teacher": a, "student": b}, ["0", "1"], "MNIST: confusion matrices")
    meshes = [ax.collections[0] for ax in fig.axes if ax.collections and ax.get_label() != "<colorbar>"]
    assert len(meshes) == 2 and {m.get_clim() for m in meshes} == {(0.0, 50.0)}
    assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 1
    plots.lint(fig)
    plt.close(fig)
