"""Bad input, as a new user gives it: every case ends in one clear line before
any work starts (the CLI exits 2, the API raises the named exception), no
traceback, and nothing on disk changes; unusual but valid data is read as
written."""

import math
import os
import random

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tfrs_ltttd import LTTTDModel, ModelConfig, TrainConfig, cli
from tfrs_ltttd.data import synthetic, tables
from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.experiments.tuning import SearchSpace
from tfrs_ltttd.layers import PAD_ID

NAN, INF = float("nan"), float("inf")
TINY = ["--epochs", "1", "--num-users", "60", "--num-items", "40"]


def _disk(folder):
  """Every path under `folder` with its bytes (None for a folder)."""
  return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
          for p in sorted(folder.rglob("*"))}


def _events(folder, rows, header="user,item,timestamp,rating"):
  path = folder / "events.csv"
  path.write_text(header + "\n" + "\n".join(rows) + "\n")
  return str(path)


def _good_rows():
  """6 users x 8 events, every item seen by several users."""
  return [f"u{u},{(u * 3 + k) % 10 + 1},{100 * u + k},{4 + k % 2}"
          for u in range(6) for k in range(8)]


# (argv, what the one line must say); OUT is a fresh path under tmp_path,
# FILE an existing file there, CSV a small valid events file.
CLI_CASES = [
    # Settings that passed validation and poisoned the run.
    (["train", "--output", "OUT", "--gamma", "nan"],
     "argument --gamma: expected a finite number >= 0, got 'nan'"),
    (["train", "--output", "OUT", "--gamma", "inf"],
     "argument --gamma: expected a finite number >= 0, got 'inf'"),
    (["train", "--output", "OUT", "--gamma", "-0.5"],
     "argument --gamma: expected a finite number >= 0, got '-0.5'"),
    (["evaluate", "--output", "OUT", "--temperature", "nan"],
     "argument --temperature: expected a finite number > 0, got 'nan'"),
    (["train", "--output", "OUT", "--interactions", "CSV",
      "--relevant-rating", "nan"],
     "argument --relevant-rating: expected a finite number, got 'nan'"),
    (["evaluate", "--output", "OUT", "--tune-gammas", "0.2", "nan"],
     "argument --tune-gammas: expected a finite number >= 0, got 'nan'"),
    (["evaluate", "--output", "OUT", "--gammas", "inf"],
     "argument --gammas: expected a finite number >= 0, got 'inf'"),
    (["evaluate", "--output", "OUT", "--list-holdout-fraction", "1"],
     "argument --list-holdout-fraction: expected a finite number in [0, 1)"),
    (["evaluate", "--output", "OUT", "--seeds", "0", "-3"],
     "argument --seeds: expected an integer in [0, 4294967295], got '-3'"),
    (["evaluate", "--output", "OUT", "--max-epochs", "2.5"],
     "argument --max-epochs: expected an integer >= 1, got '2.5'"),
    (["evaluate", "--output", "OUT", "--history-length", "-1"],
     "argument --history-length: expected an integer >= 0, got '-1'"),
    (["demo", "--epochs", "0"],
     "argument --epochs: expected an integer >= 1, got '0'"),
    (["demo", "--seed", "-1"],
     "argument --seed: expected an integer in [0, 4294967295], got '-1'"),
    (["demo", "--k-retrieval", "ten"],
     "argument --k-retrieval: expected an integer >= 1, got 'ten'"),
    (["demo", "--num-items", "nan"],
     "argument --num-items: expected an integer >= 1, got 'nan'"),
    (["train", "--output", "OUT", "--dropout", "1"],
     "argument --dropout: expected a finite number in [0, 1), got '1'"),
    (["train", "--output", "OUT", "--dropout", "nan"],
     "argument --dropout: expected a finite number in [0, 1), got 'nan'"),
    (["train", "--output", "OUT", "--list-batch-size", "0"],
     "argument --list-batch-size: expected an integer >= 1, got '0'"),
    (["train", "--output", "OUT", "--batch-size", "1e3"],
     "argument --batch-size: expected an integer >= 1, got '1e3'"),
    (["train", "--output", "OUT", "--shard-bytes", "0"],
     "argument --shard-bytes: expected an integer >= 1, got '0'"),
    (["export", "--output", "OUT", "--k", "0"],
     "argument --k: expected an integer >= 1, got '0'"),
    (["export", "--output", "OUT", "--num-candidates", "inf"],
     "argument --num-candidates: expected an integer >= 1, got 'inf'"),
    (["export", "--output", "OUT", "--version", "0"],
     "argument --version: expected an integer >= 1, got '0'"),
    # Settings fine one by one, not together: refused before any data, or
    # once the catalogue size is known, before training.
    (["export", "--output", "OUT", "--k", "20", "--num-candidates", "10"],
     "--k (20) must be at most --num-candidates (10)"),
    (["demo", "--k-retrieval", "500"] + TINY,
     "--k-retrieval (500) must be at most the catalogue size (40)"),
    (["train", "--output", "OUT", "--list-batch-size", "4"],
     "TrainConfig.num_in_batch_negatives must be < list_batch_size (4)"),
    # Outputs that cannot be written: refused before any training.
    (["train", "--output", "FILE"], "exists already"),
    (["train", "--output", "FILE/checkpoint"],
     "is a file, so no folder can be made there"),
    (["evaluate", "--output", "FILE"], "is a file; it must be a folder"),
    (["evaluate", "--output", "FILE/reports"],
     "is a file, so no folder can be made there"),
    (["export", "--output", "FILE"], "is a file; it must be a folder"),
]


@pytest.mark.parametrize("argv, message", CLI_CASES,
                         ids=[" ".join(a[:1] + a[3:]) for a, _ in CLI_CASES])
def test_cli_refuses_in_one_line_before_any_work(argv, message, tmp_path,
                                                 capsys):
  (tmp_path / "FILE").write_text("the user's file")
  csv = _events(tmp_path, _good_rows())
  argv = [str(tmp_path / a) if a.startswith(("OUT", "FILE")) else
          csv if a == "CSV" else a for a in argv]
  before = _disk(tmp_path)
  assert cli.main(argv) == 2
  captured = capsys.readouterr()
  err = captured.err
  assert message in err, err
  assert err.startswith(f"ltttd {argv[0]}: error: ")
  assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
  assert "Epoch" not in captured.out  # no training started
  assert _disk(tmp_path) == before


CSV_CASES = [
    # (rows after a valid start, header or None, what the line must say)
    (["u9,,109,4"], None, "events.csv:50: column 'item' is empty"),
    ([" ,3,109,4"], None, "events.csv:50: column 'user' is empty"),
    (["u9,-1,109,4"], None,
     "events.csv:50: item -1 is reserved: it pads history_item_ids"),
    (["u9,3,yesterday,4"], None,
     "events.csv:50: column 'timestamp' must be unix seconds or an ISO "
     "8601 date or date-time, one form in every row, got 'yesterday'"),
    (["u9,3,2024-01-05T10:00:00,4"], None,
     "got '2024-01-05T10:00:00'"),  # a date among unix seconds
    (["u9,3,109,NA"], None,
     "events.csv:50: column 'rating' must be a number, got 'NA'"),
    (["u9,3,109,inf"], None, "events.csv:50: column 'rating'"),
    ([], "user,thing,timestamp,rating", "no column 'item'"),
]


@pytest.mark.parametrize("extra, header, message", CSV_CASES)
def test_bad_csv_names_file_line_and_column(extra, header, message,
                                           tmp_path, capsys):
  csv = _events(tmp_path, _good_rows() + extra,
                **({"header": header} if header else {}))
  with pytest.raises(tables.TableError) as info:
    tables.load(csv)
  assert message in str(info.value) and "\n" not in str(info.value)
  before = _disk(tmp_path)
  assert cli.main(["train", "--output", str(tmp_path / "c"),
                   "--interactions", csv] + TINY[:2]) == 2
  err = capsys.readouterr().err
  assert message in err and len(err.strip().splitlines()) == 1
  assert _disk(tmp_path) == before


def test_small_data_is_told_which_flag_to_lower(tmp_path, capsys):
  csv = _events(tmp_path, _good_rows())
  assert cli.main(["train", "--output", str(tmp_path / "c"),
                   "--interactions", csv, "--epochs", "1"]) == 2
  err = capsys.readouterr().err
  assert "lower TrainConfig.list_batch_size (ltttd: --list-batch-size)" in err
  assert not (tmp_path / "c").exists()


API_CASES = [
    (lambda: ModelConfig(gamma=NAN),
     "ModelConfig.gamma must be a finite number >= 0, got nan."),
    (lambda: ModelConfig(temperature=INF),
     "ModelConfig.temperature must be a finite number > 0, got inf."),
    (lambda: ModelConfig(hidden_units=(64, 0)),
     "ModelConfig.hidden_units must be an integer >= 1, got (64, 0)."),
    (lambda: ModelConfig(output_dim=True),
     "ModelConfig.output_dim must be an integer >= 1, got True."),
    (lambda: ModelConfig(width=10, num_heads=4),
     "ModelConfig.width (10) must be a multiple of num_heads (4)."),
    (lambda: ModelConfig(ranking_loss="hinge"),
     "ModelConfig.ranking_loss must be one of"),
    (lambda: TrainConfig(learning_rate=NAN),
     "TrainConfig.learning_rate must be a finite number > 0, got nan."),
    (lambda: TrainConfig(epochs=2.5),
     "TrainConfig.epochs must be an integer >= 1, got 2.5."),
    (lambda: TrainConfig(seed=-1),
     "TrainConfig.seed must be an integer in [0, 4294967295], got -1."),
    (lambda: TrainConfig(list_holdout_fraction=NAN),
     "TrainConfig.list_holdout_fraction must be a finite number in [0, 1)"),
    (lambda: synthetic.SyntheticConfig(noise=NAN),
     "SyntheticConfig.noise must be a finite number >= 0, got nan."),
    (lambda: SearchSpace(gammas=(0.2, NAN)),
     "SearchSpace.gammas must be a finite number >= 0, got (0.2, nan)."),
    (lambda: tables.TableSource("events.csv", relevant_rating=NAN),
     "TableSource.relevant_rating must be a finite number, got nan."),
    (lambda: tables.from_dataframes(pd.DataFrame(
        {"user": [1], "item": [2], "timestamp": [3]}), relevant_rating=INF),
     "relevant_rating must be a finite number, got inf."),
]


@pytest.mark.parametrize("make, message", API_CASES)
def test_api_refuses_settings_where_they_are_made(make, message):
  with pytest.raises(ValueError) as info:
    make()
  assert str(info.value).startswith(message) or message in str(info.value)


def test_ids_are_read_as_written(tmp_path):
  big = 2**64 - 1  # a uint64 hash: beyond int64, must not wrap
  rows = [f"{user},{item},{t}" for t, (user, item) in enumerate(
      [("NA", big), ("NA", "-5"), ("NA", 7), ("007", big), ("007", -5),
       ("7", 7), ("7", big), ("null", -5), ("null", 7)] * 2)]
  data = tables.load(_events(tmp_path, rows, "user,item,timestamp"))
  assert sorted(data.users["user_id"].tolist()) == ["007", "7", "NA", "null"]
  assert sorted(data.items["item_id"].tolist()) == sorted(
      [str(big), "-5", "7"])
  frame = pd.DataFrame({"user": np.array([1, 2, 1, 2], np.uint64),
                        "item": np.array([big, 3, 3, big], np.uint64),
                        "timestamp": [1, 2, 3, 4]})
  assert str(big) in tables.from_dataframes(frame).items["item_id"].tolist()
  ints = tables.load(_events(tmp_path, ["a,-5,1", "a,-7,2", "b,-5,3",
                                        "b,12,4"], "user,item,timestamp"))
  assert ints.items["item_id"].dtype == np.int64
  assert sorted(ints.items["item_id"].tolist()) == [-7, -5, 12]


def test_negative_item_ids_are_history_not_padding(tmp_path):
  rows = [f"u{u},{-(k % 6) - 2},{10 * u + k}" for u in range(4)
          for k in range(6)]
  data = tables.load(_events(tmp_path, rows, "user,item,timestamp"))
  assert data.items["item_id"].min() < PAD_ID
  query = serving_query(data, np.arange(data.num_users), 8)
  ids = query["history_item_ids"]
  assert np.all((ids < 0) == True)  # noqa: E712  every id negative here
  real = (ids != PAD_ID).sum(axis=1)
  assert real.tolist() == [len(np.flatnonzero(data.train["user"] == u))
                           for u in range(data.num_users)]
  model = LTTTDModel.from_data(data, ModelConfig(
      output_dim=8, embedding_dim=8, width=8, num_heads=2, history_length=8))
  mask = model.query_tower.encode(
      {k: tf.constant(v) for k, v in query.items()})["history_mask"]
  np.testing.assert_array_equal(mask.numpy(), ids != PAD_ID)


def test_timestamps_read_the_same_from_csv_parquet_and_dataframes(tmp_path):
  pytest.importorskip("pyarrow")
  stamps = ["2024-01-05T10:00:00", "2024-01-06", "2024-01-06T12:30:00+02:00",
            "2024-02-01T00:00:00Z"] * 3
  frame = pd.DataFrame({"user": [1, 1, 2, 2] * 3,
                        "item": [1, 2, 3, 4, 2, 3, 4, 1, 3, 4, 1, 2],
                        "timestamp": stamps})
  frame.to_csv(tmp_path / "t.csv", index=False)
  frame.to_parquet(tmp_path / "t.parquet")
  typed = frame.assign(timestamp=pd.to_datetime(frame["timestamp"],
                                                format="ISO8601", utc=True))
  loaded = [tables.load(tmp_path / "t.csv"),
            tables.load(tmp_path / "t.parquet"),
            tables.from_dataframes(frame), tables.from_dataframes(typed)]
  expected = pd.to_datetime(pd.Series(stamps), format="ISO8601", utc=True)
  seconds = sorted((expected - pd.Timestamp(0, tz="UTC"))
                   / pd.Timedelta(seconds=1))
  for data in loaded:
    got = sorted(np.concatenate([data.train["timestamp"],
                                 data.test["timestamp"]]).tolist())
    assert got == seconds
  assert math.isclose(seconds[0], 1704448800.0)  # 2024-01-05T10:00Z


def _corrupt(text: str, rng: random.Random) -> str:
  how = rng.choice(["bytes", "truncate", "swap", "drop", "duplicate"])
  lines = text.splitlines()
  if how == "bytes":
    data = bytearray(text.encode())
    for _ in range(rng.randint(1, 8)):
      data[rng.randrange(len(data))] = rng.randrange(256)
    return data.decode("utf-8", errors="replace")
  if how == "truncate":
    return text[:rng.randrange(len(text))]
  header = lines[0].split(",")
  i, j = rng.sample(range(len(header)), 2)
  if how == "swap":  # swap two columns' values, keep the header
    rows = [r.split(",") for r in lines[1:]]
    for r in rows:
      if len(r) == len(header):
        r[i], r[j] = r[j], r[i]
    return "\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n"
  if how == "drop":  # a column missing from the header or from one row
    if rng.random() < 0.5:
      return "\n".join(",".join(c for k, c in enumerate(line.split(","))
                                if k != i) for line in lines) + "\n"
    row = rng.randrange(1, len(lines))
    lines[row] = ",".join(lines[row].split(",")[:-1])
    return "\n".join(lines) + "\n"
  return text + lines[rng.randrange(1, len(lines))] + ",extra\n"


def test_corrupted_csv_files_never_end_in_a_traceback(tmp_path):
  """200 corruptions of a valid file: each reads into valid `Interactions`
  or ends in one `TableError` line naming the file."""
  good = "user,item,timestamp,rating\n" + "\n".join(_good_rows()) + "\n"
  rng = random.Random(0)
  refused = 0
  for case in range(200):
    path = tmp_path / f"case{case}.csv"
    path.write_bytes(_corrupt(good, rng).encode("utf-8", errors="replace"))
    try:
      data = tables.load(path)
    except tables.TableError as error:
      refused += 1
      assert str(path.name) in str(error) and "\n" not in str(error)
      continue
    # What reads is consistent: every row points into the tables.
    for split in (data.train, data.test):
      assert np.all(split["user"] < data.num_users)
      assert np.all(split["item"] < data.num_items)
      assert np.all(np.isfinite(split["label"]))
      assert np.all(np.isfinite(split["timestamp"]))
  assert 20 < refused < 200  # both outcomes occur


def test_a_corrupted_file_never_trains_a_model(tmp_path, capsys):
  good = "user,item,timestamp,rating\n" + "\n".join(_good_rows()) + "\n"
  broken = tmp_path / "events.csv"
  broken.write_text(good.replace("u3,", "u3,\x00", 1).replace(",4\n", ",four\n"))
  assert cli.main(["train", "--output", str(tmp_path / "c"),
                   "--interactions", str(broken)] + TINY[:2]) == 2
  captured = capsys.readouterr()
  assert "events.csv:" in captured.err and "Epoch" not in captured.out
  assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("command", ["train", "evaluate", "export"])
def test_an_unwritable_output_folder_is_refused_before_any_work(
    command, tmp_path, capsys, monkeypatch):
  # A read-only folder, as the check sees it (root may write anywhere, so
  # the permission itself cannot be set up here).
  monkeypatch.setattr(os, "access", lambda path, mode: False)
  assert cli.main([command, "--output", str(tmp_path / "out")]) == 2
  captured = capsys.readouterr()
  assert f"--output {tmp_path / 'out'}: the folder {tmp_path} is not " \
         "writable." in captured.err
  assert "Epoch" not in captured.out and not (tmp_path / "out").exists()
