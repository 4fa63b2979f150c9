"""The evaluation report: `ltttd evaluate` end to end, and the committed
MovieLens 100K report's keys and consistency."""

import json
import pathlib

import numpy as np
import pytest

from tfrs_ltttd import cli
from tfrs_ltttd.experiments import report

ROOT = pathlib.Path(__file__).resolve().parents[2]
HEADLINE = ("ndcg@10", "mrr", "recall@50", "recall@100", "recall@200",
            "irretrievable@100", "upqe")


def _check(result):
  assert isinstance(result["seeds"], list) and result["seeds"]
  for system in ("ltttd", "cascade"):
    for key in HEADLINE:
      values = result[system]["per_seed"][key]
      assert len(values) == len(result["seeds"])
      assert result[system][key] == pytest.approx(np.mean(values))
      assert result[system]["std"][key] == pytest.approx(np.std(values))
      assert 0.0 <= result[system][key] <= 1.0
    assert 0.0 < result[system]["ndcg@10_two_tower"] <= 1.0
  for baseline in ("ease", "popularity"):
    for key in ("ndcg@10", "recall@100", "irretrievable@100"):
      assert 0.0 <= result[baseline][key] <= 1.0
  assert result["ease"]["l2"] > 0


@pytest.mark.slow
def test_evaluate_writes_the_report(tmp_path, capsys):
  assert cli.main(["evaluate", "--data", "synthetic", "--num-users", "150",
                   "--num-items", "220", "--seeds", "0", "1", "--epochs", "1",
                   "--gamma", "0.2", "--list-holdout-fraction", "0",
                   "--gammas", "0", "1", "--trials", "2", "--max-epochs",
                   "1", "--rerank-epochs", "2", "--closing-epochs", "1",
                   "--output", str(tmp_path),
                   "--name", "tiny"]) == 0
  result = json.loads((tmp_path / "tiny.json").read_text())
  _check(result)
  # H was not given: two settings were tried on validation, both reported.
  assert len(result["tuning"]["trials"]) == 2
  assert result["wall_s"] > result["tuning"]["wall_s"] > 0
  assert [row["gamma"] for row in result["gamma_sweep"]] == [0.0, 1.0]
  for suffix in ("_recall.png", "_losses.png", "_gamma.png"):
    assert (tmp_path / f"tiny{suffix}").stat().st_size > 1000
  table = (tmp_path / "tiny.md").read_text()
  assert "| ndcg@10 |" in table and "| irretrievable@100 |" in table
  assert "| metric | popularity | EASE | cascade towers | cascade |" in table
  assert report.lift_line(result) in table
  gains = {s: result[s]["ndcg@10"] / result[s]["ndcg@10_without_correction"]
           - 1 for s in ("ltttd", "cascade")}
  assert ("The re-ranker's own lift (the served list against the same list "
          f"with its correction weight at 0): LT-TTD {gains['ltttd']:+.1%}, "
          f"the cascade {gains['cascade']:+.1%}.") in table
  assert table.count(" | 1 | 1 | ") == 2  # each trial: 1 epoch run, best 1
  assert "Whole run (data, search, 2 seeds of both systems" in table
  # Each system serves the correction weight chosen for it on validation,
  # and the report says which and why.
  chosen = result["tuning"]["chosen"]["correction_weight"]
  for system, label in (("ltttd", "LT-TTD"), ("cascade", "the cascade")):
    weight = chosen[system]
    assert result[system]["per_seed"]["correction_weight"] == [weight] * 2
    curve = result["tuning"]["correction_weights"][system][
        "ndcg@10_by_correction_weight"]
    assert f"{label} {weight:g} (validation NDCG@10 " + ", ".join(
        f"{v:.4f} at {w}" for w, v in curve.items()) in table
  # The system the tool serves on this data, with both validation scores.
  system = result["tuning"]["chosen"]["system"]
  assert report.system_line(result) in table
  scores = result["tuning"]["systems"]  # a tie goes LT-TTD's way
  assert system == ("cascade" if scores["cascade"] > scores["ltttd"]
                    else "ltttd")
  # The cascade's re-ranker stage trains the epochs given (validation's
  # best, up to --max-epochs, is reported beside them).
  assert result["tuning"]["chosen"]["rerank_epochs"] == 1
  for history in result["histories"]["cascade"]:
    assert len(history["l1_total_loss"]) == 1
    assert len(history["l2_total_loss"]) == 2
  assert ("Epochs of the cascade's re-ranker stage: 2, as given (best on "
          "validation: 1) (score by epoch: 1 "
          f"{result['tuning']['rerank_epochs'][0]['quality']:.4f}; the first "
          "of ties).") in table
  # LT-TTD's closing stage likewise, its curve from epoch 0 (none).
  for history in result["histories"]["ltttd"]:
    assert len(history["closing_total_loss"]) == 1
  best = result["tuning"]["chosen"]["closing_epochs"]
  curve = result["tuning"]["closing_epochs"]
  assert [row["epoch"] for row in curve] == [0, 1]
  assert ("Epochs of LT-TTD's closing stage (its re-ranker alone on its "
          "final towers' lists; 0: none): 1, "
          + ("its best on validation" if best == 1 else
             "as given (best on validation: 0)")
          + f" (score by epoch: 0 {curve[0]['quality']:.4f}, 1 "
          f"{curve[1]['quality']:.4f}; the first of ties).") in table
  assert "| ndcg@10 |" in capsys.readouterr().out


def test_committed_movielens_report_is_complete():
  path = ROOT / "benchmarks" / "results" / "movielens-100k.json"
  result = json.loads(path.read_text())
  _check(result)
  assert len(result["seeds"]) >= 3
  for suffix in (".md", "_recall.png", "_losses.png", "_gamma.png"):
    assert (path.parent / f"movielens-100k{suffix}").exists()


def test_the_distillation_table_names_each_runs_teacher():
  result = json.loads(
      (ROOT / "benchmarks" / "results" / "movielens-100k.json").read_text())
  row = {"irretrievable@100": 0.4, "recall@100": 0.6,
         "ndcg@10_two_tower": 0.15, "ndcg@10_served": 0.16, "quality": 0.31}
  result["tuning"]["gamma"] = [
      {"gamma": 0.2, "teacher_item_item_weight": 1.0, **row},
      {"gamma": 0.0, "teacher_item_item_weight": 0.0, **row},
      {"gamma": 1.0, **row}]  # a record from before teachers were tried
  lines = report.markdown(result, "t").splitlines()
  header = lines.index("| gamma | teacher | irretrievable@100 | recall@100 | "
                       "towers' ndcg@10 | served ndcg@10 | score |")
  cells = " | 0.4000 | 0.6000 | 0.1500 | 0.1600 | 0.3100 |"
  assert lines[header + 2:header + 5] == [
      "| 0 | 0" + cells, "| 0.2 | 1" + cells, "| 1 | 0" + cells]


def test_the_report_names_the_system_served_and_why():
  result = json.loads(
      (ROOT / "benchmarks" / "results" / "movielens-100k.json").read_text())
  result["tuning"]["systems"] = {"ltttd": 0.3012, "cascade": 0.3104}
  result["tuning"]["chosen"]["system"] = "cascade"
  text = report.markdown(result, "t")
  assert ("System served on this data: the cascade (validation score "
          "LT-TTD 0.3012, the cascade 0.3104;") in text
  assert "system cascade" not in text  # not among the settings
