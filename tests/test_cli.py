import os
import pathlib
import re
import subprocess
import sys

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
  recall = re.search(r"recall@100 \(retrieval\)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)",
                     out)
  ndcg = re.search(r"NDCG@10 \(final ranking\)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)",
                   out)
  assert recall and ndcg, out[-2000:]
  assert float(recall.group(1)) > float(recall.group(2))
  assert float(ndcg.group(1)) > 2 * float(ndcg.group(2))
