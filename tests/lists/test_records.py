import numpy as np
import pytest
import tensorflow as tf

from tfrs_ltttd import lists
from tfrs_ltttd.lists import records
from tfrs_ltttd.lists.negatives import NegativeSampler


def _examples(data):
  built = lists.build_lists(data, 8, num_positives=2, seed=4,
                            history_length=3)
  pairs = lists.build_pairs(data, history_length=3)
  return pairs, built


def _all(ds, batches):
  return [tf.nest.map_structure(lambda t: t.numpy(), b)
          for b in ds.take(batches)]


def test_file_backed_pipeline_yields_the_same_batches(small_data, tmp_path):
  pairs, built = _examples(small_data)
  files = lists.write_examples(str(tmp_path), small_data, pairs, built,
                               num_shards=3)
  assert len(files[0].paths) == 3 and files[0].num_rows == len(pairs["user"])
  kwargs = dict(num_in_batch_negatives=2, seed=9)
  steps = len(pairs["user"]) // 64
  memory = lists.make_joint_dataset(
      small_data, pairs, built, 64, 32,
      sampler=NegativeSampler(small_data, 5, seed=1), **kwargs)
  disk = lists.make_joint_dataset(
      small_data, *files, 64, 32,
      sampler=NegativeSampler(small_data, 5, seed=1), **kwargs)
  want, got = _all(memory, steps), _all(disk, steps)
  assert len(got) == len(want) == steps
  for a, b in zip(want, got):
    tf.nest.assert_same_structure(a, b)
    for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
      assert x.dtype == y.dtype
      np.testing.assert_array_equal(x, y)


def test_readers_split_the_files(small_data, tmp_path):
  rows = {"a": np.arange(10), "b": {"c": np.arange(20.0).reshape(10, 2),
                                    "s": np.array(list("abcdefghij"))}}
  files = records.write(tmp_path, "x", rows, num_shards=4)
  whole = list(records.read(files).as_numpy_iterator())
  assert [r["a"] for r in whole] == list(range(10))
  np.testing.assert_array_equal(whole[3]["b"]["c"], [6.0, 7.0])
  assert whole[9]["b"]["s"] == b"j"
  parts = [[r["a"] for r in records.read(files, (2, i)).as_numpy_iterator()]
           for i in range(2)]
  assert sorted(parts[0] + parts[1]) == list(range(10))
  assert not set(parts[0]) & set(parts[1])
  assert not list(tmp_path.glob("*.tmp"))
  with pytest.raises(ValueError, match="one row per example"):
    records.write(tmp_path, "y", {"a": np.arange(3), "b": np.arange(4)})


def test_fit_from_files_equals_fit_from_memory(small_data, tmp_path):
  from tfrs_ltttd import LTTTDModel, ModelConfig, TrainConfig, training  # pylint: disable=g-import-not-at-top
  config = TrainConfig(epochs=2, batch_size=64, list_batch_size=32,
                       list_size=8, num_positives=2, num_hard_negatives=2,
                       hard_negative_depth=20, hard_negative_skip=2,
                       num_in_batch_negatives=2, num_sampled_negatives=8)
  histories = []
  for folder in (None, str(tmp_path / "examples")):
    tf.keras.utils.set_random_seed(3)
    model = LTTTDModel.from_data(small_data, ModelConfig(
        output_dim=8, embedding_dim=8, hidden_units=(8,), num_layers=1,
        num_heads=2, width=8, history_length=3, dropout=0.0))
    histories.append(training.fit(model, small_data, config, verbose=0,
                                  example_dir=folder))
  for key in ("retrieval_loss", "ranking_loss", "loss"):
    np.testing.assert_allclose(histories[1][key], histories[0][key],
                               rtol=1e-5, err_msg=key)
  assert not list((tmp_path / "examples").iterdir())  # epochs cleaned up
