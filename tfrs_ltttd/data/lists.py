"""Listwise training examples: per query a candidate list, graded labels, a mask.

Each train interaction (user u, item a) becomes one example anchored on `a`.
Its list holds, in this order before a per-row shuffle:

1. positives: the anchor and up to `num_positives - 1` other train positives
   of u, with their graded labels;
2. hard negatives: drawn from `hard_candidates[u]`, the items an index (for
   instance the current towers' top-K) ranks highest for u, so that the
   re-ranker trains on lists that look like the ones it serves;
3. uniform negatives: drawn from the whole catalogue.

In-batch negatives (the anchors of the other rows of a batch) are added after
batching by `add_in_batch_negatives`, so they change with every shuffle.

A slot is padding (mask False, label -1, the TF-Ranking convention) when it
would repeat an item already in the list, or when a negative is a train
positive of u. Everything is vectorised over examples with numpy.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from tfrs_ltttd.data.interactions import Interactions, per_user, take

PAD_LABEL = -1.0


def build_lists(
    data: Interactions,
    list_size: int,
    *,
    num_positives: int = 4,
    num_hard_negatives: int = 0,
    hard_candidates: Optional[np.ndarray] = None,
    num_in_batch_negatives: int = 0,
    seed: int = 0,
) -> Dict[str, np.ndarray]:
  """Builds one candidate list per relevant train interaction.

  Args:
    data: users, items and interactions.
    list_size: L, the full list length including `num_in_batch_negatives`
      slots that `add_in_batch_negatives` fills later.
    num_positives: at most this many positives per list (the anchor first).
    num_hard_negatives: slots drawn from `hard_candidates`.
    hard_candidates: `[num_users, H]` item rows ranked by an index for each
      user (-1 for padding); required when `num_hard_negatives > 0`.
    num_in_batch_negatives: slots left for in-batch negatives.
    seed: random seed.

  Returns:
    A dict of numpy arrays: `user` [N] and `anchor` [N] rows, `items`
    [N, L - num_in_batch_negatives] item rows, `labels` (float32, -1 on
    padding) and `mask` (bool) of the same shape. The remaining slots are
    uniform negatives.

  Raises:
    ValueError: if the slot counts do not fit in `list_size`, or
      `hard_candidates` is missing or has the wrong number of rows.
  """
  own = list_size - num_in_batch_negatives
  if list_size < 2:
    raise ValueError(f"list_size must be >= 2, got {list_size}.")
  if num_positives < 1:
    raise ValueError(f"num_positives must be >= 1, got {num_positives}.")
  if min(num_hard_negatives, num_in_batch_negatives) < 0:
    raise ValueError("num_hard_negatives and num_in_batch_negatives must be "
                     ">= 0.")
  if num_positives + num_hard_negatives > own:
    raise ValueError(
        f"list_size ({list_size}) must exceed num_positives ({num_positives})"
        f" + num_hard_negatives ({num_hard_negatives}) + "
        f"num_in_batch_negatives ({num_in_batch_negatives}).")
  if num_hard_negatives > 0:
    if hard_candidates is None:
      raise ValueError("hard_candidates is required when num_hard_negatives "
                       "> 0: pass [num_users, H] item rows from an index.")
    if hard_candidates.ndim != 2 or len(hard_candidates) != data.num_users:
      raise ValueError(
          f"hard_candidates must have shape [num_users={data.num_users}, H], "
          f"got {hard_candidates.shape}.")
    if hard_candidates.shape[1] < num_hard_negatives:
      raise ValueError(
          f"hard_candidates has {hard_candidates.shape[1]} columns, fewer "
          f"than num_hard_negatives ({num_hard_negatives}).")
  rng = np.random.default_rng(seed)

  train = data.train
  relevant = train["label"] > 0
  users, anchors = train["user"][relevant], train["item"][relevant]
  labels_all = train["label"][relevant].astype(np.float32)
  n = len(users)

  pos_items = per_user(users, data.num_users, anchors, -1)
  pos_labels = per_user(users, data.num_users, labels_all, 0.0)
  positive_keys = np.unique(users * data.num_items + anchors)

  def is_positive(u, items):
    return np.isin(u[:, None] * data.num_items + items, positive_keys)

  # 1. positives: the anchor, then others of the same user at random.
  others = pos_items[users]
  keys = rng.random(others.shape)
  keys[(others < 0) | (others == anchors[:, None])] = np.inf
  pick = np.argsort(keys, axis=1)[:, :num_positives - 1]
  other_items = np.take_along_axis(others, pick, axis=1)
  other_labels = np.take_along_axis(pos_labels[users], pick, axis=1)
  other_valid = np.take_along_axis(keys, pick, axis=1) < np.inf
  items = [anchors[:, None], other_items]
  labels = [labels_all[:, None], other_labels]
  valid = [np.ones((n, 1), bool), other_valid]

  # 2. hard negatives from the index's candidates, minus the positives.
  if num_hard_negatives:
    cand = hard_candidates[users]
    keys = rng.random(cand.shape)
    # Rows < 0 are an index's padding (a user with few unseen items).
    keys[(cand < 0) | is_positive(users, cand)] = np.inf
    pick = np.argsort(keys, axis=1)[:, :num_hard_negatives]
    items.append(np.take_along_axis(cand, pick, axis=1))
    labels.append(np.zeros((n, num_hard_negatives), np.float32))
    valid.append(np.take_along_axis(keys, pick, axis=1) < np.inf)

  # 3. uniform negatives fill the rest.
  num_uniform = own - num_positives - num_hard_negatives
  uniform = rng.integers(0, data.num_items, (n, num_uniform))
  items.append(uniform)
  labels.append(np.zeros((n, num_uniform), np.float32))
  valid.append(~is_positive(users, uniform))

  items = np.concatenate(items, axis=1)
  labels = np.concatenate(labels, axis=1)
  valid = np.concatenate(valid, axis=1) & ~_later_duplicates(items)
  items = np.where(valid, items, 0)
  labels = np.where(valid, labels, PAD_LABEL).astype(np.float32)

  shuffle = np.argsort(rng.random(items.shape), axis=1)
  return {
      "user": users,
      "anchor": anchors,
      "items": np.take_along_axis(items, shuffle, axis=1),
      "labels": np.take_along_axis(labels, shuffle, axis=1),
      "mask": np.take_along_axis(valid, shuffle, axis=1),
  }


def _later_duplicates(items: np.ndarray) -> np.ndarray:
  """True where a row repeats an item that stands earlier in the same row."""
  order = np.argsort(items, axis=1, kind="stable")
  ranked = np.take_along_axis(items, order, axis=1)
  dup_ranked = np.zeros(items.shape, bool)
  dup_ranked[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
  dup = np.empty_like(dup_ranked)
  np.put_along_axis(dup, order, dup_ranked, axis=1)
  return dup


def make_dataset(
    data: Interactions,
    lists: Dict[str, np.ndarray],
    batch_size: int,
    *,
    num_in_batch_negatives: int = 0,
    shuffle: bool = True,
    seed: int = 0,
) -> tf.data.Dataset:
  """Turns lists into a batched `tf.data.Dataset` of model inputs.

  Each element is `{"query": user features [B], "item": anchor item features
  [B], "item_probability": [B], "candidates": item features [B, L],
  "labels": [B, L], "mask": [B, L]}`.

  Args:
    data: the interactions the lists came from.
    lists: output of `build_lists`.
    batch_size: examples per batch.
    num_in_batch_negatives: in-batch slots to append to each list.
    shuffle: reshuffle examples at every epoch.
    seed: shuffle seed.

  Returns:
    A batched, prefetched dataset.
  """
  probabilities = data.item_probabilities()
  features = {
      "query": take(data.users, lists["user"]),
      "item": take(data.items, lists["anchor"]),
      "item_probability": probabilities[lists["anchor"]],
      "candidates": take(data.items, lists["items"]),
      "labels": lists["labels"],
      "mask": lists["mask"],
  }
  ds = tf.data.Dataset.from_tensor_slices(features)
  if shuffle:
    ds = ds.shuffle(len(lists["user"]), seed=seed,
                    reshuffle_each_iteration=True)
  ds = ds.batch(batch_size, drop_remainder=num_in_batch_negatives > 0)
  if num_in_batch_negatives:
    ds = ds.map(
        lambda x: add_in_batch_negatives(
            x, num_in_batch_negatives,
            query_id_feature=data.query_id_feature,
            item_id_feature=data.item_id_feature),
        num_parallel_calls=tf.data.AUTOTUNE)
  # Under a multi-worker strategy, each worker builds the same lists from the
  # same seed and takes its share of every global batch.
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = (
      tf.data.experimental.AutoShardPolicy.DATA)
  return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def add_in_batch_negatives(batch: Dict, num: int, *, query_id_feature: str,
                           item_id_feature: str) -> Dict:
  """Appends the anchors of `num` other rows of the batch to every list.

  Row b gets the anchors of rows b+1, ..., b+num (mod B). A slot is masked
  out when it comes from the same user (it may be one of the user's
  positives) or repeats an item already in the list.

  Args:
    batch: a batch from `make_dataset` without in-batch slots.
    num: in-batch negatives per list; must be smaller than the batch size.
    query_id_feature: the user id feature, to spot rows of the same user.
    item_id_feature: the item id feature, to spot repeated items.

  Returns:
    The batch with lists of length L + num.
  """
  batch_size = tf.shape(batch["labels"])[0]
  tf.debugging.assert_less(
      num, batch_size, message="num_in_batch_negatives must be < batch size")
  shifts = tf.range(1, num + 1)
  rows = (tf.range(batch_size)[:, None] + shifts[None, :]) % batch_size
  extra = {k: tf.gather(v, rows) for k, v in batch["item"].items()}
  user_ids = batch["query"][query_id_feature]
  same_user = tf.equal(tf.gather(user_ids, rows), user_ids[:, None])
  ids = batch["candidates"][item_id_feature]
  in_list = tf.reduce_any(
      tf.equal(extra[item_id_feature][:, :, None], ids[:, None, :])
      & batch["mask"][:, None, :], axis=-1)
  extra_mask = ~(same_user | in_list)
  out = dict(batch)
  out["candidates"] = {
      k: tf.concat([v, extra[k]], axis=1)
      for k, v in batch["candidates"].items()
  }
  out["mask"] = tf.concat([batch["mask"], extra_mask], axis=1)
  out["labels"] = tf.concat(
      [batch["labels"],
       tf.where(extra_mask, 0.0, PAD_LABEL) * tf.ones_like(
           extra_mask, tf.float32)], axis=1)
  return out
