"""REPORT.md: the paper profile's numbers beside the cpu ones, and every notebook run's wall time."""
import json

from kdcourse import report


def _table(name, rows, wall, profile):
    manifest = {"profile": profile, "device": "cpu", "commit": "abc", "wall_time_s": wall, "data_sources": {}}
    return {"table": name, "caption": "KD on MNIST", "columns": ["method", "acc"], "rows": rows,
            "manifest": manifest}


def test_paper_rows_sit_beside_cpu_rows_with_each_runs_wall_time(tmp_path):
    figures = tmp_path / "figures"
    for folder, profile, rows, wall in (
            (figures / "02_x", "cpu", [{"method": "KD", "acc": 0.98}, {"method": "no KD", "acc": 0.97}], 12.0),
            (figures / "paper" / "02_x", "paper", [{"method": "KD", "acc": 0.99}, {"method": "T=64", "acc": 0.5}],
             3600.0)):
        folder.mkdir(parents=True)
        (folder / "t.table.json").write_text(json.dumps(_table("02_x/t", rows, wall, profile)))
    columns, rows = report.side_by_side(*(json.loads((f / "t.table.json").read_text()) for f in
                                          (figures / "02_x", figures / "paper" / "02_x")))
    assert columns == ["method", "acc (cpu)", "acc (paper)"]
    assert rows == [{"method": "KD", "acc (cpu)": 0.98, "acc (paper)": 0.99},
                    {"method": "no KD", "acc (cpu)": 0.97}, {"method": "T=64", "acc (paper)": 0.5}]
    assert [(r["profile"], r["wall time (s)"]) for r in report.wall_times(figures)] == [("cpu", 12.0),
                                                                                        ("paper", 3600.0)]
    text = report.build(figures, tmp_path / "REPORT.md").read_text()
    assert "| KD | 0.98 | 0.99 |" in text and "| no KD | 0.97 |  |" in text
    assert "### 02_x: paper profile beside cpu" in text and "wall time 3,600.0 s" in text
    assert "## paper" not in text   # figures/paper/ is not a notebook


def test_rows_are_matched_on_as_many_leading_columns_as_tell_them_apart():
    def table(rows):
        return {"columns": ["setting", "model", "acc"], "rows": rows}
    cpu = table([{"setting": "2x5", "model": "teacher", "acc": 0.99}, {"setting": "2x5", "model": "KD", "acc": 0.98}])
    paper = table([{"setting": "2x5", "model": "KD", "acc": 0.985}])
    columns, rows = report.side_by_side(cpu, paper)
    assert columns == ["setting", "model", "acc (cpu)", "acc (paper)"]
    assert rows == [{"setting": "2x5", "model": "teacher", "acc (cpu)": 0.99},
                    {"setting": "2x5", "model": "KD", "acc (cpu)": 0.98, "acc (paper)": 0.985}]


def test_training_runs_lists_every_checkpointed_run_with_its_wall_time(monkeypatch, tmp_path):
    import torch

    from kdcourse import config, data, models
    from kdcourse.distillers import CrossEntropy
    from kdcourse.engine import TrainSpec, fit
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("KDCOURSE_DRY", raising=False)
    tr, va = data.load("digits", "train"), data.load("digits", "val")
    torch.manual_seed(0)
    res = fit(CrossEntropy(models.MLP(64, (16,), num_classes=10)), tr, va, TrainSpec(epochs=2), progress=False,
              checkpoint=config.checkpoints_dir("paper") / "02_x" / "ce-seed0.pt")
    runs = report.training_runs("paper")
    (row,) = runs["02_x"]
    assert (row["run"], row["objective"], row["model"], row["epochs"], row["epoch kept"]) == (
        "ce-seed0", "cross_entropy", "MLP", 2, res.best_epoch)
    assert row["wall time (s)"] == round(float(res.history.seconds.sum()), 1)
    (path,) = report.save_training_runs("paper", tmp_path / "figures")
    assert path == tmp_path / "figures" / "02_x" / "training_runs.table.json"
    assert json.loads(path.read_text())["rows"] == [row]
