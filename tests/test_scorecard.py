"""The reproduction scorecard: verdicts from seed-to-seed noise, rows per notebook, the file and the report."""
import json

import pytest

from kdcourse import config, metrics, report, scorecard


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_FIGURES", str(tmp_path / "figs"))
    return config.begin(config.Run("04_resnet34_to_resnet18", "smoke", None, __import__("torch").device("cpu")))


def test_compare_reads_metrics_verdict_against_the_sources_sign(run):
    # gain 0.02, stds 0.001 and 0.002: noise 2 x 0.002 = 0.004 -> beyond noise
    row = scorecard.compare("KD helps", "seed X", 0.01, [0.90, 0.901, 0.899], [0.88, 0.882, 0.878], "MNIST")
    assert row["verdict"] == "reproduced"
    assert row["ours_mean"] == pytest.approx(0.02) and row["ours_std"] == pytest.approx(0.002)
    assert row["noise_2std"] == pytest.approx(0.004) and row["seeds"] == 3
    assert set(scorecard.KEYS) <= set(row) and row["notebook"] == "04_resnet34_to_resnet18"
    # the same numbers, but the source says the first is lower: reversed
    assert scorecard.compare("X trails", "s", None, [0.90, 0.901, 0.899], [0.88, 0.882, 0.878], "MNIST",
                             expect="lower")["verdict"] == "reversed"
    # a gain smaller than 2 std either way is within noise, whatever the source's sign
    for expect in ("higher", "lower"):
        assert scorecard.compare("c", "s", 1, [0.90, 0.91, 0.89], [0.895, 0.90, 0.905], "MNIST",
                                 expect=expect)["verdict"] == "within noise"


def test_compare_against_one_reference_number_uses_the_seeds_spread_alone(run):
    gain, noise, _ = metrics.verdict([0.80, 0.82, 0.84], 0.90)
    assert gain == pytest.approx(-0.08) and noise == pytest.approx(0.04)
    row = scorecard.compare("the student trails its one teacher", "s", -8.4, [0.80, 0.82, 0.84], 0.90,
                            "stand-in", expect="lower")
    assert row["verdict"] == "reproduced" and row["ours_mean"] == pytest.approx(-0.08)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        metrics.verdict([0.9], [0.8, 0.82])   # one seed on the measured side has no spread


def test_value_rows_use_the_tolerance_and_the_worse_side(run):
    ok = scorecard.value("146 errors alone", "Hinton", 146, [150, 155, 152], "MNIST", tolerance=15)
    assert ok["verdict"] == "reproduced" and ok["ours_mean"] == pytest.approx(152.333333)
    miss = scorecard.value("74 errors distilled", "Hinton", 74, [100, 104, 102], "MNIST", tolerance=15)
    assert miss["verdict"] == "reversed" and miss["ours_std"] == pytest.approx(2.0)
    better = scorecard.value("67 errors", "Hinton", 67, [40], "MNIST", tolerance=15)
    assert better["verdict"] == "reproduced" and better["ours_std"] is None and better["seeds"] == 1
    with pytest.raises(ValueError, match="worse"):
        scorecard.value("c", "s", 1, [1], "MNIST", tolerance=1, worse="sideways")


def test_record_replaces_only_this_notebooks_rows_and_the_report_opens_with_them(run, tmp_path):
    file = scorecard.path(run)
    other = scorecard.not_run("BAN-1 beats its teacher", "seed 002 Table 1", 0.001, "CIFAR-10")
    other["notebook"] = "05_born_again"
    file.parent.mkdir(parents=True)
    file.write_text(json.dumps([other]))
    first = scorecard.value("a", "s", 1.0, [1.0, 1.0], "MNIST", tolerance=0.1)
    scorecard.record([first, first])
    scorecard.record([first])   # a rerun replaces, never appends to, its own rows
    rows = json.loads(file.read_text())
    assert [r["notebook"] for r in rows] == ["04_resnet34_to_resnet18", "05_born_again"]
    with pytest.raises(ValueError, match="only its own rows"):
        scorecard.record([other])
    text = "\n".join(report.scorecard_part(file.parent))
    assert "Reproduction scorecard" in text and "**not run**" in text and "**reproduced**" in text
    assert "2 claims: 1 reproduced, 1 not run" in text or "2 claims: 1 not run, 1 reproduced" in text


def test_a_damaged_scorecard_is_reported_and_left_alone(run):
    file = scorecard.path(run)
    file.parent.mkdir(parents=True)
    file.write_text("[{\"notebook\": 1")
    with pytest.raises(ValueError, match="not valid JSON"):
        scorecard.record([])
    assert file.read_text() == "[{\"notebook\": 1"
    file.write_text(json.dumps([{"notebook": "x"}]))
    with pytest.raises(ValueError, match="not a scorecard"):
        scorecard.load(file)
    with pytest.raises(ValueError, match="verdict must be one of"):
        scorecard._row("c", "s", 1, 1, 0, 3, "MNIST", "sort of", run)


def test_every_shared_teacher_is_a_named_run_of_its_notebook():
    from kdcourse import experiments
    assert len(experiments.TEACHERS) == len(set(experiments.TEACHERS))
    for notebook, method in experiments.TEACHERS:
        assert method in experiments.runs(notebook), (notebook, method, sorted(experiments.runs(notebook)))


def test_the_committed_scorecard_has_a_row_for_every_headline_and_the_report_opens_with_it(tmp_path):
    """Issue 13's "done when": every notebook with a headline has its rows, one per headline, every comparison
    of 03-08 over >= 3 seeds, Hinton et al.'s three numbers measured; REPORT.md's first section is that table."""
    rows = scorecard.load(config.REPO / "figures" / scorecard.FILE)
    headlines = {"02_mnist_kd": 4, "03_mhist_transfer_kd": 1, "04_resnet34_to_resnet18": 2, "05_born_again": 2,
                 "06_ipkd_teacher_assistants": 6, "07_rrd": 2, "08_subclass_distillation": 2, "09_saliency": 1}
    counts = {nb: sum(r["notebook"] == nb for r in rows) for nb in {r["notebook"] for r in rows}}
    assert counts == headlines
    for r in rows:
        assert r["profile"] == "cpu" and r["verdict"] in scorecard.VERDICTS and r["ours_mean"] is not None, r
        if r["notebook"][:2] in ("03", "04", "05", "06", "07", "08"):
            assert r["seeds"] >= 3, r
    hinton = [r for r in rows if r["source"] == "Hinton et al. 2015, sec. 3"]
    assert sorted(r["source_value"] for r in hinton) == [67, 74, 146]
    text = (config.REPO / "REPORT.md").read_text()   # the committed report, as `make report` writes it
    first = next(line for line in text.splitlines() if line.startswith("## "))
    assert first == "## Reproduction scorecard"
    assert "\n".join(report.scorecard_part(config.REPO / "figures")) in text   # and it is the current scorecard
