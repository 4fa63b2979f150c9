import argparse
import csv

import numpy as np
import pytest

from tfrs_ltttd.cli import sources
from tfrs_ltttd.data import amazon

BEAUTY = amazon.default_path()
needs_beauty = pytest.mark.skipif(
    BEAUTY is None, reason="Amazon Beauty not found: set "
    f"{amazon.DATA_ENV} or place it at ../shared/data/amazon-beauty")


@needs_beauty
def test_beauty_loads_whole_with_its_codes_as_codes():
  data = amazon.load(BEAUTY)
  assert (data.num_users, data.num_items) == (10_000, 11_915)
  assert len(data.train["user"]) + len(data.test["user"]) == 88_688
  assert set(np.unique(data.train["label"])) == {1.0}  # implicit feedback
  with open(BEAUTY / "items.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  ids = list(data.items[data.item_id_feature])
  for row in rows[::997]:
    r = ids.index(int(row["item"]))
    assert data.items["brand"][r] == row["brand"]  # "" when unknown
    on = {name[len("categories_"):] for name in data.items
          if name.startswith("categories_") and data.items[name][r] == 1.0}
    assert on == set(row["categories"].split("|"))


def test_a_folder_without_the_files_is_named(tmp_path):
  (tmp_path / "interactions.csv").write_text("user,item,timestamp\n1,2,3\n")
  with pytest.raises(FileNotFoundError, match=f"{tmp_path}: no items.csv"):
    amazon.load(tmp_path)


def test_the_named_reader_and_the_documented_flags_read_the_same(tmp_path):
  (tmp_path / "interactions.csv").write_text(
      "user,item,timestamp\n" + "".join(
          f"{u},{i},{t}\n" for u in range(1, 7) for t, i in
          enumerate((u % 3 + 1, u % 3 + 2, 4, 5, u % 2 + 1))))
  (tmp_path / "items.csv").write_text(
      "item,categories,brand\n1,7|8,3\n2,7,\n3,9,3\n4,7|9,12\n5,8,\n")
  args = argparse.Namespace(
      interactions=str(tmp_path / "interactions.csv"), users=None,
      items=str(tmp_path / "items.csv"), separator="|", relevant_rating=4.0,
      column=["categories=multi", "brand=categorical"])
  by_flags = sources.data_source(args).load()
  by_name = amazon.load(tmp_path)
  assert by_flags.fingerprint() == by_name.fingerprint()
  assert list(by_name.items["brand"]) == ["3", "", "3", "12", ""]
  np.testing.assert_array_equal(by_name.items["categories_9"],
                                [0, 0, 1, 1, 0])
