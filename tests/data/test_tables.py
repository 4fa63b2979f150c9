"""Own data: interactions and feature tables from DataFrames and files."""

import numpy as np
import pandas as pd
import pytest

from tfrs_ltttd.data import tables
from tfrs_ltttd.data.interactions import validation_split


def _interactions():
  return pd.DataFrame({
      "user": ["ann", "ann", "ann", "bob", "bob", "cy", "cy", "cy", "cy"],
      "item": [10, 11, 12, 10, 13, 11, 12, 13, 10],
      "timestamp": [5, 1, 9, 3, 4, 8, 7, 6, 9],
      "rating": [5, 4, 2, 3, 5, 4, 4, 1, 5],
  })


def _items():
  return pd.DataFrame({
      "item": [13, 12, 11, 10],
      "genres": ["Action|Comedy", "Drama", None, "Comedy"],
      "year": [1999.0, np.nan, 2001.0, 2003.0],
      "studio": ["a", "b", "a", None],
  })


def test_split_by_time_and_labels_follow_the_readers():
  data = tables.from_dataframes(_interactions(), test_fraction=0.34)
  users = list(data.users["user_id"])
  assert users == ["ann", "bob", "cy"]
  assert list(data.items["item_id"]) == [10, 11, 12, 13]
  # Each user's last third by time (at least one) is test.
  test = {(users[u], int(data.items["item_id"][i]), float(y))
          for u, i, y in zip(data.test["user"], data.test["item"],
                             data.test["label"])}
  # rating >= 4 -> rating - 3, lower -> 0 (the MovieLens convention).
  assert test == {("ann", 12, 0.0), ("bob", 13, 2.0), ("cy", 10, 2.0)}
  for split in (data.train, data.test):
    for u in range(3):
      t = split["timestamp"][split["user"] == u]
      assert np.all(np.diff(t) >= 0)
  train_times = {users[u]: max(data.train["timestamp"][data.train["user"] == u])
                 for u in range(3)}
  for u, t in zip(data.test["user"], data.test["timestamp"]):
    assert t >= train_times[users[u]]
  # The validation split is cut from train in the same way.
  valid = validation_split(data, 0.5)
  assert len(valid.train["user"]) + len(valid.test["user"]) == len(
      data.train["user"])


def test_labels_from_a_label_column_or_implicit():
  table = _interactions().drop(columns="rating")
  assert set(tables.from_dataframes(table).train["label"]) == {1.0}
  table["weight"] = [0, 1, 2, 3, 0, 1, 2, 3, 0]
  data = tables.from_dataframes(table, columns={"label": "weight"})
  got = np.concatenate([data.train["label"], data.test["label"]])
  assert sorted(got) == sorted(table["weight"].astype(np.float32))


def test_feature_kinds_are_detected_and_can_be_declared():
  data = tables.from_dataframes(_interactions(), items=_items())
  assert list(data.items["item_id"]) == [13, 12, 11, 10]
  # Multi-valued: one 0/1 column per value; missing -> no value.
  np.testing.assert_array_equal(data.items["genres_Action"], [1, 0, 0, 0])
  np.testing.assert_array_equal(data.items["genres_Comedy"], [1, 0, 0, 1])
  np.testing.assert_array_equal(data.items["genres_Drama"], [0, 1, 0, 0])
  # Numeric: the median fills a gap.
  np.testing.assert_allclose(data.items["year"], [1999, 2001, 2001, 2003])
  assert data.items["year"].dtype == np.float32
  # Categorical strings, missing -> "".
  assert list(data.items["studio"]) == ["a", "b", "a", ""]
  declared = tables.from_dataframes(_interactions(), items=_items(),
                                    kinds={"year": "categorical",
                                           "genres": "categorical"})
  assert declared.items["genres"][0] == "Action|Comedy"
  assert declared.items["year"].dtype.kind == "U"
  # Interactions point at the item table's rows.
  rows = {v: r for r, v in enumerate(data.items["item_id"])}
  first = _interactions().sort_values(["user", "timestamp"]).iloc[0]
  assert data.train["item"][0] == rows[first["item"]]


def test_towers_accept_the_tables():
  from tfrs_ltttd import ModelConfig  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.models import LTTTDModel  # pylint: disable=g-import-not-at-top

  users = pd.DataFrame({"user": ["ann", "bob", "cy"], "age": [30.0, 40, 50],
                        "city": ["x", "y", "x"]})
  data = tables.from_dataframes(_interactions(), users=users, items=_items())
  model = LTTTDModel.from_data(data, ModelConfig(embedding_dim=8))
  assert "age" in model.query_tower.numeric
  assert "genres_Comedy" in model.item_tower.numeric
  assert "studio" in model.item_tower.vocabularies


def _error(**kwargs):
  args = {"interactions": _interactions()} | kwargs
  with pytest.raises(tables.TableError) as info:
    tables.from_dataframes(**args)
  return str(info.value)


def test_missing_column_names_it_and_the_flag():
  message = _error(interactions=_interactions().drop(columns="timestamp"))
  assert "no column 'timestamp'" in message
  assert "--column timestamp=NAME" in message


def test_non_numeric_timestamp_names_the_row():
  table = _interactions()
  table["timestamp"] = table["timestamp"].astype(object)
  table.loc[4, "timestamp"] = "yesterday"
  message = _error(interactions=table)
  assert "interactions row 4" in message and "'yesterday'" in message


def test_unknown_item_names_the_row_and_the_table():
  message = _error(items=_items().iloc[1:])
  assert "interactions row 4: item 13 is not in items" in message


def test_duplicate_ids_name_both_rows():
  items = pd.concat([_items(), _items().iloc[[0]]], ignore_index=True)
  message = _error(items=items)
  assert "items row 4: duplicate id 13" in message and "row 0" in message


def test_empty_tables_and_bad_kinds():
  assert "no interactions" in _error(interactions=_interactions().iloc[:0])
  assert "must be one of" in _error(kinds={"year": "vector"})
  assert "must be >= 0" in _error(
      interactions=_interactions().assign(label=-1))
  users = pd.DataFrame({"user": [1, 2]})
  assert "ids must be of one kind" in _error(users=users)


def _write(path, text):
  path.write_text(text)
  return path


def test_csv_errors_name_file_and_line(tmp_path):
  good = "user,item,timestamp\n1,10,5\n1,11,6\n2,10,7\n"
  missing = tmp_path / "nope.csv"
  with pytest.raises(tables.TableError, match="nope.csv: file not found"):
    tables.load(missing)
  empty = _write(tmp_path / "empty.csv", "")
  with pytest.raises(tables.TableError, match="empty.csv: empty file"):
    tables.load(empty)
  bad_time = _write(tmp_path / "t.csv", good + "2,11,soon\n")
  with pytest.raises(tables.TableError,
                     match=r"t.csv:5: column 'timestamp' must be unix seconds or an ISO "
                     r"8601 date or date-time, one form in every row, got "
                     r"'soon'"):
    tables.load(bad_time)
  no_column = _write(tmp_path / "c.csv", "user,thing,timestamp\n1,10,5\n")
  with pytest.raises(tables.TableError, match="c.csv: no column 'item'"):
    tables.load(no_column)
  items = _write(tmp_path / "items.csv", "item,kind\n10,a\n12,b\n")
  with pytest.raises(tables.TableError,
                     match=r"interactions.csv:3: item 11 is not in .*items.csv"):
    tables.load(_write(tmp_path / "interactions.csv", good), items=items)
  dup = _write(tmp_path / "dup.csv", "item,kind\n10,a\n11,b\n10,c\n")
  with pytest.raises(tables.TableError,
                     match=r"dup.csv:4: duplicate id 10 .*dup.csv:2"):
    tables.load(tmp_path / "interactions.csv", items=dup)
  with pytest.raises(tables.TableError, match="unknown file kind"):
    tables.load(_write(tmp_path / "x.json", "{}"))


def test_csv_and_parquet_read_the_same(tmp_path):
  pytest.importorskip("pyarrow")
  frame = _interactions()
  frame.to_csv(tmp_path / "i.csv", index=False)
  frame.to_parquet(tmp_path / "i.parquet")
  _items().to_csv(tmp_path / "items.csv", index=False)
  a = tables.load(tmp_path / "i.csv", items=tmp_path / "items.csv")
  b = tables.load(tmp_path / "i.parquet", items=tmp_path / "items.csv")
  for split in ("train", "test"):
    for key in ("user", "item", "label", "timestamp"):
      np.testing.assert_array_equal(getattr(a, split)[key],
                                    getattr(b, split)[key])
  assert list(a.users["user_id"]) == list(b.users["user_id"])


def test_table_source_fingerprint_changes_with_the_file(tmp_path):
  path = _write(tmp_path / "i.csv", "user,item,timestamp\n1,10,5\n")
  source = tables.TableSource(str(path))
  before = source.fingerprints()
  _write(path, "user,item,timestamp\n1,10,6\n")
  assert source.fingerprints() != before
