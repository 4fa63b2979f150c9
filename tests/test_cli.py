import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from tfrs_ltttd import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_bad_argument_is_a_clear_error(capsys):
  assert cli.main(["demo", "--num-users", "0"]) == 2
  assert "SyntheticConfig.num_users must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_make_demo_runs_end_to_end():
  """The README's first command, on a smaller world to keep the suite quick."""
  env = dict(os.environ, PYTHON=sys.executable)
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
  assert "Re-ranker lift over the towers' order (NDCG@10):" in out


SMALL_RUN = ["--epochs", "1", "--num-users", "150", "--num-items", "120"]


def test_export_help_says_scann_needs_custom_ops(capsys):
  with pytest.raises(SystemExit):
    cli.main(["export", "--help"])
  text = " ".join(capsys.readouterr().out.split())
  assert "--index scann needs ScaNN's custom ops" in text
  assert "bruteforce uses only built-in TensorFlow ops" in text


@pytest.mark.slow
def test_train_then_export_a_checkpoint(tmp_path, capsys):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  ckpt, out = tmp_path / "ckpt", tmp_path / "models"
  assert cli.main(["train", "--output", str(ckpt)] + SMALL_RUN) == 0
  assert (ckpt / "ltttd_config.json").is_file()
  assert cli.main(["train", "--output", str(ckpt)] + SMALL_RUN) == 2
  assert "exists already" in capsys.readouterr().err

  assert cli.main(["export", "--output", str(out), "--checkpoint", str(ckpt),
                   "--num-candidates", "50", "--k", "5"]) == 0
  assert "loads in stock TensorFlow Serving" in capsys.readouterr().out
  loaded = tf.saved_model.load(str(out / "ltttd" / "1"))
  query = {"user_id": tf.constant([1, 2], tf.int64),
           "user_segment": tf.constant(["s1", "s2"]),
           "user_age": tf.constant([20.0, 50.0]),
           "history_item_ids": tf.constant([[5, 9, -1], [-1, -1, -1]],
                                           tf.int64),
           "history_labels": tf.constant([[2.0, 1.0, 0.0], [0.0] * 3])}
  result = loaded.signatures["serving_default"](**query)
  assert result["item_ids"].shape == (2, 5)

  # The checkpoint rebuilds the trained model: same recommendations.
  from tfrs_ltttd import checkpoint  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.serving import Recommender  # pylint: disable=g-import-not-at-top
  model, data = checkpoint.load(ckpt)
  again = Recommender(model, data.items, num_candidates=50,
                      k=5).recommend(query)
  np.testing.assert_array_equal(again["item_ids"], result["item_ids"])


@pytest.mark.slow
def test_export_without_checkpoint_trains_first(tmp_path, capsys):
  out = tmp_path / "models"
  assert cli.main(["export", "--output", str(out), "--index", "scann",
                   "--num-candidates", "50"] + SMALL_RUN) == 0
  text = capsys.readouterr().out
  assert "training on the embedded synthetic data" in text
  assert "Scann>" in text and (out / "ltttd" / "1" / "saved_model.pb").exists()


def test_bad_checkpoint_is_a_clear_error(tmp_path, capsys):
  assert cli.main(["export", "--output", str(tmp_path / "m"),
                   "--checkpoint", str(tmp_path)]) == 2
  assert "not an ltttd checkpoint" in capsys.readouterr().err
