import numpy as np
import pytest

from tfrs_ltttd.data import history


def _reference(table, length):
  """Plain Python: for every interaction, the same user's interactions with
  a strictly smaller timestamp, latest first (ties by position)."""
  rows, labels = [], []
  n = len(table["user"])
  for j in range(n):
    past = [i for i in range(n) if table["user"][i] == table["user"][j]
            and table["timestamp"][i] < table["timestamp"][j]]
    past.sort(key=lambda i: (table["timestamp"][i], i), reverse=True)
    past = past[:length]
    rows.append([table["item"][i] for i in past] + [-1] * (length - len(past)))
    labels.append([table["label"][i] for i in past] + [0] * (length - len(past)))
  return np.array(rows), np.array(labels, np.float32)


def _table(seed=0, n=60):
  rng = np.random.default_rng(seed)
  return {"user": rng.integers(0, 4, n), "item": rng.integers(0, 30, n),
          "label": rng.integers(0, 3, n).astype(np.float32),
          # Few distinct times: many same-timestamp ties within a user.
          "timestamp": rng.integers(0, 12, n)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_example_history_is_strictly_earlier_and_matches_a_reference(seed):
  table = _table(seed)
  rows, labels = history.example_histories(table, 5)
  want_rows, want_labels = _reference(table, 5)
  np.testing.assert_array_equal(rows, want_rows)
  np.testing.assert_array_equal(labels, want_labels)


def test_history_never_holds_itself_a_tie_or_the_future():
  table = {"user": np.array([0, 0, 0, 0, 1]),
           "item": np.array([10, 11, 12, 13, 10]),
           "label": np.ones(5, np.float32),
           "timestamp": np.array([5, 7, 7, 9, 1])}
  rows, _ = history.example_histories(table, 4)
  # Hand-worked: item 11 and 12 share t=7, so neither sees the other.
  assert rows.tolist() == [[-1] * 4, [10, -1, -1, -1], [10, -1, -1, -1],
                           [12, 11, 10, -1], [-1] * 4]


def test_latest_history_is_the_last_train_interactions():
  table = _table(3)
  rows, labels = history.latest_histories(table, 5, 3)
  for user in range(5):
    mine = np.flatnonzero(table["user"] == user)
    mine = sorted(mine, key=lambda i: (table["timestamp"][i], i))[::-1][:3]
    want = [table["item"][i] for i in mine] + [-1] * (3 - len(mine))
    assert rows[user].tolist() == want
    assert labels[user].tolist() == [table["label"][i] for i in mine] + [
        0.0] * (3 - len(mine))


def test_without_timestamps_the_order_within_a_user_is_the_time():
  table = {"user": np.array([1, 0, 1, 0]), "item": np.array([4, 5, 6, 7]),
           "label": np.ones(4, np.float32)}
  rows, _ = history.example_histories(table, 2)
  assert rows.tolist() == [[-1, -1], [-1, -1], [4, -1], [5, -1]]


def test_features_pad_with_the_id_dtype():
  items = {"item_id": np.array(["a", "b", "c"])}
  out = history.features(items, "item_id", np.array([[2, -1]]),
                         np.array([[1.0, 0.0]]))
  assert out[history.HISTORY_IDS].tolist() == [["c", ""]]
  ints = history.features({"item_id": np.array([7, 8])}, "item_id",
                          np.array([[1, -1]]), np.array([[1.0, 0.0]]))
  assert ints[history.HISTORY_IDS].tolist() == [[8, -1]]


def test_synthetic_and_movielens_histories_see_only_the_past(small_data):
  table = small_data.train
  rows, _ = history.example_histories(table, 8)
  when = {(u, i): t for u, i, t in zip(table["user"], table["item"],
                                       table["timestamp"])}
  for j in range(0, len(rows), 97):
    for item in rows[j][rows[j] >= 0]:
      assert when[(table["user"][j], item)] < table["timestamp"][j]
