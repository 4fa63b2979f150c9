import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests._references import assert_export_serves_the_checkpoint
from tfrs_ltttd import ModelConfig, cli
from tfrs_ltttd.evaluation import baselines
from tfrs_ltttd.layers import top_neighbours
from tfrs_ltttd.training import checkpoint

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_bad_argument_is_a_clear_error(capsys):
  assert cli.main(["demo", "--num-users", "0"]) == 2
  assert ("argument --num-users: expected an integer >= 1, got '0'"
          in capsys.readouterr().err)


@pytest.mark.slow
def test_make_demo_runs_end_to_end():
  """The README's first command, on a smaller world to keep the suite quick."""
  # The virtualenv running the tests is the one make would build.
  env = dict(os.environ, PYTHON=sys.executable, VENV=sys.prefix)
  result = subprocess.run(
      ["make", "-s", "demo",
       "DEMO_ARGS=--epochs 2 --num-users 300 --num-items 200"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  out = result.stdout
  assert "Epoch 2/2" in out
  header = re.search(r"\| metric\s*\|(.*)\|", out)
  assert header, out[-2000:]
  columns = [c.strip() for c in header.group(1).split("|")]
  assert columns == ["LT-TTD", "towers", "EASE", "popular", "random"]

  def row(label):
    match = re.search(re.escape(label) + r"\s*\|(.*)\|", out)
    assert match, out[-2000:]
    return dict(zip(columns, (float(v) for v in match.group(1).split("|"))))

  recall, ndcg = row("recall@100 (retrieval)"), row("NDCG@10")
  assert recall["LT-TTD"] == recall["towers"] > recall["random"]
  assert ndcg["LT-TTD"] > 2 * ndcg["random"]
  # The demo's default serves 0.5 x the item-item term: the served list's
  # lift and the re-ranker's own part are told apart.
  assert "Served list's lift over the towers' order (NDCG@10):" in out
  assert "towers' score plus 0.5 x the item-item term" in out


SMALL_RUN = ["--epochs", "1", "--num-users", "150", "--num-items", "120"]


def test_export_help_says_scann_needs_custom_ops(capsys):
  with pytest.raises(SystemExit):
    cli.main(["export", "--help"])
  text = " ".join(capsys.readouterr().out.split())
  assert "--index scann needs ScaNN's custom ops" in text
  assert "bruteforce uses only built-in TensorFlow ops" in text


@pytest.mark.slow
def test_train_then_export_a_checkpoint(tmp_path, capsys):
  ckpt, out = tmp_path / "ckpt", tmp_path / "models"
  assert cli.main(["train", "--output", str(ckpt)] + SMALL_RUN) == 0
  assert (ckpt / "ltttd_config.json").is_file()
  assert cli.main(["train", "--output", str(ckpt)] + SMALL_RUN) == 2
  assert "exists already" in capsys.readouterr().err

  # One query at a time: the two-query request below is answered in chunks.
  assert cli.main(["export", "--output", str(out), "--checkpoint", str(ckpt),
                   "--num-candidates", "50", "--k", "5",
                   "--max-batch", "1"]) == 0
  text = capsys.readouterr().out
  assert "loads in stock TensorFlow Serving" in text
  assert "larger requests than 1 queries in chunks" in text
  meta = json.loads((out / "ltttd" / "1" / "assets.extra" / "ltttd.json"
                     ).read_text())
  assert meta["max_batch"] == 1
  assert_export_serves_the_checkpoint(out, ckpt, {
      "user_id": np.array([1, 2], np.int64),
      "user_segment": np.array(["s1", "s2"]),
      "user_age": np.array([20.0, 50.0], np.float32)}, num_candidates=50)


@pytest.mark.slow
def test_export_without_checkpoint_trains_first(tmp_path, capsys):
  out = tmp_path / "models"
  assert cli.main(["export", "--output", str(out), "--index", "scann",
                   "--num-candidates", "50"] + SMALL_RUN) == 0
  text = capsys.readouterr().out
  assert "No --checkpoint given: training first." in text
  assert "Scann>" in text and (out / "ltttd" / "1" / "saved_model.pb").exists()


@pytest.mark.slow
def test_a_trained_item_item_table_and_its_weight_live_in_the_checkpoint(
    tmp_path):
  ckpt = tmp_path / "ckpt"
  assert cli.main(["train", "--output", str(ckpt), "--item-item-neighbours",
                   "7", "--item-item-weight", "0.3"] + SMALL_RUN) == 0
  model, data = checkpoint.load(ckpt)
  assert float(model.item_item.served_weight.numpy()) == pytest.approx(0.3)
  rows, values = top_neighbours(
      baselines.EASE(data, ModelConfig.item_item_l2).b, 7)
  np.testing.assert_array_equal(model.item_item.neighbours.numpy(), rows)
  np.testing.assert_allclose(model.item_item.neighbour_weights.numpy(),
                             values)


def test_bad_checkpoint_is_a_clear_error(tmp_path, capsys):
  assert cli.main(["export", "--output", str(tmp_path / "m"),
                   "--checkpoint", str(tmp_path)]) == 2
  assert "not an ltttd checkpoint" in capsys.readouterr().err


def _own_files(tmp_path):
  """A CSV of interactions with string user ids and a CSV of item features
  with a multi-valued genre column, written from the synthetic generator."""
  import pandas as pd  # pylint: disable=g-import-not-at-top

  from tfrs_ltttd.data import synthetic  # pylint: disable=g-import-not-at-top

  data = synthetic.generate(synthetic.SyntheticConfig(num_users=120,
                                                      num_items=80, seed=3))
  rows = []
  for split in (data.train, data.test):
    for u, i, label, t in zip(split["user"], split["item"], split["label"],
                              split["timestamp"]):
      rows.append((f"u{data.users['user_id'][u]}", data.items["item_id"][i],
                   3.0 + float(label), int(t)))
  frame = pd.DataFrame(rows, columns=["customer", "item", "stars", "when"])
  frame.to_csv(tmp_path / "events.csv", index=False)
  category = data.items["item_category"]
  pd.DataFrame({
      "item": data.items["item_id"],
      "genres": [f"{c}|{'odd' if i % 2 else 'even'}"
                 for i, c in enumerate(category)],
      "price": data.items["item_price"] if "item_price" in data.items
               else np.arange(len(category), dtype=np.float64),
  }).to_csv(tmp_path / "items.csv", index=False)
  return ["--interactions", str(tmp_path / "events.csv"), "--items",
          str(tmp_path / "items.csv"), "--column", "user=customer",
          "--column", "rating=stars", "--column", "timestamp=when"]


@pytest.mark.slow
def test_own_data_train_evaluate_export_reload(tmp_path, capsys):
  own = _own_files(tmp_path)
  ckpt, out = tmp_path / "ckpt", tmp_path / "models"
  assert cli.main(["train", "--output", str(ckpt), "--epochs", "1"] + own) == 0
  assert "events.csv: 120 users, 80 items" in capsys.readouterr().out
  assert cli.main(["evaluate", "--seeds", "0", "--epochs", "1", "--gamma",
                   "0.5", "--list-holdout-fraction", "0", "--history-length",
                   "5", "--output",
                   str(tmp_path / "report")] + own) == 0
  assert (tmp_path / "report" / "events.json").is_file()
  # Every setting given: no weight can be chosen, so no item-item table.
  assert ("Item-item table (--item-item-neighbours): none, no setting is "
          "chosen on validation.") in capsys.readouterr().out
  assert cli.main(["export", "--output", str(out), "--checkpoint", str(ckpt),
                   "--num-candidates", "30", "--k", "5"]) == 0
  data = assert_export_serves_the_checkpoint(
      out, ckpt, {"user_id": np.array(["u3", "unknown-user"])},
      num_candidates=30)
  assert "genres_odd" in data.items and data.users["user_id"].dtype.kind == "U"

  # A file changed after training is refused, by name.
  (tmp_path / "items.csv").write_text(
      (tmp_path / "items.csv").read_text() + "\n")
  assert cli.main(["export", "--output", str(out), "--checkpoint",
                   str(ckpt)]) == 2
  assert "items file(s) changed since training" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--data", "movielens-1m", "--path", "/no/such/folder"],
     "/no/such/folder: no such folder"),
    (["evaluate", "--data", "amazon-beauty", "--path", "/no/such/folder"],
     "/no/such/folder: no interactions.csv"),
    (["train", "--output", "OUT", "--interactions", "/no/such.csv"],
     "/no/such.csv: file not found"),
    (["train", "--output", "OUT", "--items", "x.csv"],
     "give --interactions too"),
    (["train", "--output", "OUT", "--interactions", "x.csv", "--column",
      "nonsense"], "expected ROLE=COLUMN"),
    (["train", "--output", "OUT", "--epochs", "0", "--num-users", "99999999"],
     "argument --epochs: expected an integer >= 1, got '0'"),
    (["train"], "--output is required"),
    (["train", "--output", "OUT", "--strategy", "parameter_server"],
     "needs the TF_CONFIG environment variable"),
    (["train", "--output", "OUT", "--sampled-negatives", "-1"],
     "argument --sampled-negatives: expected an integer >= 0, got '-1'"),
])
def test_user_errors_are_one_line_without_traceback(argv, message, tmp_path,
                                                    capsys):
  argv = [str(tmp_path / a) if a == "OUT" else a for a in argv]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err
  assert message in err and "Traceback" not in err
  assert len(err.strip().splitlines()) == 1


def test_export_output_that_is_a_file_is_a_clear_error(tmp_path, capsys):
  target = tmp_path / "file"
  target.write_text("keep me")
  assert cli.main(["export", "--output", str(target)] + SMALL_RUN) == 2
  assert "is a file; it must be a folder" in capsys.readouterr().err
  assert target.read_text() == "keep me"


def test_cli_hides_tensorflow_start_up_noise_and_bars_in_logs(tmp_path):
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  ltttd = pathlib.Path(sys.executable).with_name("ltttd")
  result = subprocess.run(
      [str(ltttd), "train", "--output", str(tmp_path / "c"), "--epochs", "2",
       "--num-users", "60", "--num-items", "40"],
      env=env, capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  for noise in ("oneDNN", "cuda", "TensorRT", "cpu_feature_guard"):
    assert noise not in result.stderr + result.stdout
  # Not a terminal: one line per epoch, no carriage-return updates.
  assert "\r" not in result.stdout and "\b" not in result.stdout
  assert result.stdout.count("Epoch 2/2") == 1


def _checkpoint_arrays(path):
  reader = tf.train.load_checkpoint(str(path / "weights"))
  return {name: reader.get_tensor(name)
          for name, _ in tf.train.list_variables(str(path / "weights"))
          # Weights only: the bookkeeping of the object graph may differ.
          if "save_counter" not in name
          and name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


@pytest.mark.slow
def test_a_killed_cli_run_resumes_bitwise_with_dropout_0_and_determinism(
    tmp_path):
  ltttd = str(pathlib.Path(sys.executable).with_name("ltttd"))
  flags = ["--epochs", "3", "--num-users", "300", "--num-items", "200",
           "--dropout", "0", "--deterministic", "--seed", "4"]
  reference = subprocess.run([ltttd, "train", "--output",
                              str(tmp_path / "reference")] + flags,
                             capture_output=True, text=True, timeout=600)
  assert reference.returncode == 0, reference.stderr[-2000:]
  backup = tmp_path / "backup"
  command = [ltttd, "train", "--output", str(tmp_path / "resumed"),
             "--backup-dir", str(backup)] + flags
  victim = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not (backup / "state" / "checkpoint").exists():
    assert victim.poll() is None and time.time() < deadline
    time.sleep(0.05)
  victim.send_signal(signal.SIGKILL)
  victim.wait(timeout=60)
  assert not (tmp_path / "resumed").exists()  # killed before it finished
  resumed = subprocess.run(command, capture_output=True, text=True,
                           timeout=600)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  want = _checkpoint_arrays(tmp_path / "reference")
  got = _checkpoint_arrays(tmp_path / "resumed")
  assert want.keys() == got.keys() and len(want) > 10
  for name, value in want.items():
    np.testing.assert_array_equal(got[name], value, err_msg=name)
