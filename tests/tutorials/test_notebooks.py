"""Every tutorial runs top to bottom (small-size switch on) and is committed
without outputs."""

import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

from tfrs_ltttd.data import movielens

TUTORIALS = pathlib.Path(__file__).resolve().parents[2] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))


def test_the_four_tutorials_are_there():
  assert [p.name for p in NOTEBOOKS] == [
      "01_quickstart.ipynb", "02_movielens.ipynb", "03_serving.ipynb",
      "04_your_own_data.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stripped(path):
  notebook = nbformat.read(path, as_version=4)
  for cell in notebook.cells:
    if cell.cell_type == "code":
      assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, monkeypatch):
  if path.stem == "02_movielens" and movielens.default_path() is None:
    pytest.skip("MovieLens 100K not found: set "
                f"{movielens.DATA_ENV} or place it at ../shared/data/ml-100k")
  monkeypatch.setenv("LTTTD_TUTORIAL_SMALL", "1")
  notebook = nbformat.read(path, as_version=4)
  client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                          resources={"metadata": {"path": str(TUTORIALS)}})
  client.execute()
  errors = [o for c in notebook.cells if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"]
  assert not errors
  assert os.environ["LTTTD_TUTORIAL_SMALL"] == "1"
