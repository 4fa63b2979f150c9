import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tfrs_ltttd import lists


def _positive_sets(d):
  out = {}
  for u, i in zip(d.train["user"], d.train["item"]):
    out.setdefault(int(u), set()).add(int(i))
  return out


def test_lists_hold_anchor_positives_and_clean_negatives(small_data):
  d = small_data
  rng = np.random.default_rng(0)
  hard = np.stack([rng.permutation(d.num_items)[:30]
                   for _ in range(d.num_users)])
  out = lists.build_lists(d, 16, num_positives=3, num_hard_negatives=4,
                          hard_candidates=hard, seed=1)
  pos = _positive_sets(d)
  n, length = out["items"].shape
  assert length == 16 and n == int((d.train["label"] > 0).sum())
  label_of = {(int(u), int(i)): float(y) for u, i, y in
              zip(d.train["user"], d.train["item"], d.train["label"])}
  for row in range(0, n, 7):
    u, a = int(out["user"][row]), int(out["anchor"][row])
    items, labels, mask = (out["items"][row], out["labels"][row],
                           out["mask"][row])
    np.testing.assert_array_equal(labels[~mask], -1.0)
    real = items[mask]
    assert len(set(real)) == len(real)  # no repeats
    assert a in real and labels[mask][list(real).index(a)] == label_of[u, a]
    for item, y in zip(real, labels[mask]):
      if y > 0:
        assert item in pos[u] and y == label_of[u, item]
      else:
        assert item not in pos[u]
    assert 1 <= (labels > 0).sum() <= 3


def test_hard_negatives_come_from_the_index(small_data):
  d = small_data
  hard = np.tile(np.arange(10, 20), (d.num_users, 1))
  out = lists.build_lists(d, 11, num_positives=1, num_hard_negatives=10,
                          hard_candidates=hard, seed=2)
  negatives = out["items"][out["mask"] & (out["labels"] == 0)]
  assert set(negatives) <= set(range(10, 20))


def test_in_batch_negatives_are_other_rows_anchors(small_data):
  d = small_data
  out = lists.build_lists(d, 8, num_positives=2, num_in_batch_negatives=3)
  batch = next(iter(lists.make_dataset(d, out, 16, num_in_batch_negatives=3,
                                       shuffle=False)))
  ids = batch["candidates"]["item_id"].numpy()
  anchors = batch["item"]["item_id"].numpy()
  users = batch["query"]["user_id"].numpy()
  mask, labels = batch["mask"].numpy(), batch["labels"].numpy()
  assert ids.shape == (16, 8)
  for b in range(16):
    for j in range(3):
      other = (b + j + 1) % 16
      assert ids[b, 5 + j] == anchors[other]
      expect_valid = (users[other] != users[b]
                      and anchors[other] not in ids[b, :5][mask[b, :5]])
      assert mask[b, 5 + j] == expect_valid
      assert labels[b, 5 + j] == (0.0 if expect_valid else -1.0)


def test_dataset_feeds_features_of_every_slot(small_data):
  d = small_data
  out = lists.build_lists(d, 6)
  batch = next(iter(lists.make_dataset(d, out, 4, shuffle=False)))
  rows = out["items"][:4]
  np.testing.assert_array_equal(batch["candidates"]["item_category"].numpy(),
                                d.items["item_category"][rows].astype(bytes))
  np.testing.assert_allclose(batch["item_probability"].numpy(),
                             d.item_probabilities()[out["anchor"][:4]])
  assert batch["mask"].dtype == tf.bool


@pytest.mark.parametrize("kwargs,match", [
    ({"list_size": 4, "num_positives": 3, "num_hard_negatives": 2},
     "list_size"),
    ({"list_size": 8, "num_hard_negatives": 2}, "hard_candidates"),
    ({"list_size": 8, "num_positives": 0}, "num_positives"),
    ({"list_size": 8, "num_hard_negatives": 3,
      "hard_candidates": np.zeros((300, 2), np.int64)}, "fewer than"),
])
def test_bad_list_arguments_name_the_field(small_data, kwargs, match):
  with pytest.raises(ValueError, match=match):
    lists.build_lists(small_data, **kwargs)


def test_padded_hard_candidates_never_enter_a_list(small_data):
  d = small_data
  hard = np.full((d.num_users, 6), -1, np.int64)
  hard[:, 0] = 7  # one real candidate, the rest an index's padding (-1)
  out = lists.build_lists(d, 5, num_positives=1, num_hard_negatives=4,
                          hard_candidates=hard, seed=4)  # no uniform slots
  negatives = out["mask"] & (out["labels"] == 0)
  # Only item 7 can be a negative; the -1 slots are masked, never read as
  # an item (np.take would turn -1 into the last catalogue row).
  assert set(out["items"][negatives]) <= {7}
  assert negatives.sum(axis=1).max() == 1


def test_per_user_groups_in_order(small_data):
  from tfrs_ltttd.data.interactions import per_user  # noqa: PLC0415
  table = per_user(np.array([2, 0, 2, 2]), 4, np.array([5, 6, 7, 8]), -1)
  np.testing.assert_array_equal(table, [[6, -1, -1], [-1, -1, -1],
                                        [5, 7, 8], [-1, -1, -1]])


def test_list_positives_are_never_in_the_history_and_never_in_the_past(
    small_data):
  """A list must look like a served one: the candidates are items the user
  has not seen by the anchor's time, so no positive comes from the past."""
  d = small_data
  out = lists.build_lists(d, 12, num_positives=4, seed=3, history_length=6)
  when = {(int(u), int(i)): t for u, i, t in zip(
      d.train["user"], d.train["item"], d.train["timestamp"])}
  checked = 0
  for row in range(len(out["user"])):
    u, a = int(out["user"][row]), int(out["anchor"][row])
    real = out["items"][row][out["mask"][row]]
    positives = real[out["labels"][row][out["mask"][row]] > 0]
    assert all(when[u, int(i)] >= when[u, a] for i in positives)
    history = set(out["history"][row][out["history"][row] >= 0].tolist())
    assert not history & set(real.tolist())
    assert all(when[u, i] < when[u, a] for i in history)
    checked += len(positives) > 1
  assert checked > 100  # other (future) positives do occur


def test_holdout_splits_pairs_and_lists_in_time(small_data):
  d = small_data
  pairs = lists.build_pairs(d, list_holdout_fraction=0.25)
  held = lists.build_lists(d, 8, num_positives=2, list_holdout_fraction=0.25)
  last_pair, first_list = {}, {}
  when = {(int(u), int(i)): t for u, i, t in zip(
      d.train["user"], d.train["item"], d.train["timestamp"])}
  for u, a in zip(pairs["user"], pairs["anchor"]):
    last_pair[int(u)] = max(last_pair.get(int(u), -1), when[int(u), int(a)])
  for u, a in zip(held["user"], held["anchor"]):
    first_list[int(u)] = min(first_list.get(int(u), np.inf),
                             when[int(u), int(a)])
  # No list anchor is a retrieval positive, and lists come after the pairs.
  assert not {(int(u), int(a)) for u, a in zip(pairs["user"], pairs["anchor"])
              } & {(int(u), int(a)) for u, a in zip(held["user"],
                                                    held["anchor"])}
  assert all(first_list[u] > last_pair[u] for u in first_list
             if u in last_pair)
  n = len(d.train["user"])
  assert 0.2 * n < n - len(pairs["user"]) < 0.32 * n
  everything = lists.build_pairs(d)
  assert len(everything["user"]) == n
  relevant = lists.build_pairs(d, all_interactions=False)
  assert len(relevant["user"]) == int((d.train["label"] > 0).sum())


def test_joint_dataset_has_two_streams(small_data):
  d = small_data
  pairs = lists.build_pairs(d, history_length=3)
  built = lists.build_lists(d, 8, num_positives=2, history_length=3,
                            num_in_batch_negatives=2)
  ds = lists.make_joint_dataset(d, pairs, built, 64, 16,
                                num_in_batch_negatives=2)
  batch = next(iter(ds))
  assert batch["query"]["user_id"].shape == (64,)
  assert batch["query"]["history_item_ids"].shape == (64, 3)
  assert batch["lists"]["candidates"]["item_id"].shape == (16, 8)
  assert batch["lists"]["query"]["history_labels"].shape == (16, 3)
  assert len(list(ds)) == len(pairs["user"]) // 64
  with pytest.raises(ValueError, match="list_batch_size"):
    lists.make_joint_dataset(d, pairs, built, 64, 10 ** 6)


def test_seen_negatives_are_the_users_low_rated_choices_from_t_on(small_data):
  # A third of train rated low (label 0): chosen, then not liked.
  d = small_data
  rng = np.random.default_rng(7)
  label = np.where(rng.random(len(d.train["label"])) < 0.35, 0.0,
                   d.train["label"]).astype(np.float32)
  d = dataclasses.replace(d, train={**d.train, "label": label})
  out = lists.build_lists(d, 16, num_positives=2, num_seen_negatives=3,
                          seed=4)
  when = {(int(u), int(i)): t for u, i, t in
          zip(d.train["user"], d.train["item"], d.train["timestamp"])}
  low = {}
  for u, i, y in zip(d.train["user"], d.train["item"], label):
    if y == 0:
      low.setdefault(int(u), []).append(int(i))
  assert len(out["user"]) == int((label > 0).sum())
  rows_with_low = 0
  for row in range(len(out["user"])):
    u, a = int(out["user"][row]), int(out["anchor"][row])
    real = out["items"][row][out["mask"][row]]
    labels = out["labels"][row][out["mask"][row]]
    later = {i for i in low.get(u, []) if when[u, i] >= when[u, a]}
    held = {int(i) for i, y in zip(real, labels) if (u, int(i)) in when
            and y == 0}
    # Only low-rated choices from the anchor's time on, as many as fit.
    assert held <= later
    assert len(held) == min(3, len(later))
    assert all(y == 0 for i, y in zip(real, labels) if int(i) in later)
    rows_with_low += bool(later)
  assert rows_with_low > 100


def test_seen_negatives_fall_back_to_uniform_ones(small_data):
  # Every interaction relevant (implicit feedback): the slots are uniform
  # negatives, never padding, never a train item of the user.
  d = small_data
  out = lists.build_lists(d, 16, num_positives=2, num_seen_negatives=3,
                          seed=4)
  base = lists.build_lists(d, 16, num_positives=2, seed=4)
  pos = _positive_sets(d)
  negatives = out["mask"] & (out["labels"] == 0)
  for row in range(0, len(out["user"]), 5):
    u = int(out["user"][row])
    assert not set(out["items"][row][negatives[row]]) & pos[u]
  # As many real slots as without them, up to the chance of a collision.
  assert abs(out["mask"].mean() - base["mask"].mean()) < 0.01


def test_seen_negatives_take_the_uniform_slots_there_are(small_data):
  d = small_data
  label = np.zeros(len(d.train["label"]), np.float32)
  label[::3] = 1.0  # two of three choices rated low
  d = dataclasses.replace(d, train={**d.train, "label": label})
  # 12 slots: 4 positives, 6 hard, so 2 uniform slots for 9 seen asked.
  hard = np.tile(np.arange(d.num_items), (d.num_users, 1))
  out = lists.build_lists(d, 12, num_positives=4, num_hard_negatives=6,
                          hard_candidates=hard, num_seen_negatives=9,
                          seed=3)
  train_items = _positive_sets(d)
  seen = np.array([[int(i) in train_items[int(u)] and y == 0 and m
                    for i, y, m in zip(items, labels, mask)]
                   for u, items, labels, mask in zip(
                       out["user"], out["items"], out["labels"],
                       out["mask"])])
  assert seen.sum(axis=1).max() == 2
