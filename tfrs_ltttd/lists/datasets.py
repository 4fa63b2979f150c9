"""The training streams as `tf.data` pipelines, from arrays or from files.

`make_joint_dataset` zips the retrieval pairs and the candidate lists of
`tfrs_ltttd.lists.build` into one batched stream (in-batch negatives added
after batching, optional catalogue-wide sampled negatives); `write_examples`
stores them as TFRecord shards that the same function reads back.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from tfrs_ltttd.data import history as history_lib
from tfrs_ltttd.data.interactions import Interactions, take
from tfrs_ltttd.lists import records
from tfrs_ltttd.lists.build import PAD_LABEL
from tfrs_ltttd.lists.negatives import NegativeSampler


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

  Each element is `{"query": user features [B] (+ the history features
  [B, H] when the lists have a history), "item": anchor item features [B],
  "item_probability": [B], "candidates": item features [B, L], "labels":
  [B, L], "mask": [B, L]}`: one stream, whose anchors are also the
  retrieval positives (`make_joint_dataset` gives two).

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
  ds = _list_stream(data, lists, batch_size, num_in_batch_negatives,
                    shuffle, seed)
  return _finish(ds)


def _pair_features(data: Interactions, examples: Dict[str, np.ndarray]):
  query = take(data.users, examples["user"])
  if "history" in examples:
    query.update(history_lib.features(data.items, data.item_id_feature,
                                      examples["history"],
                                      examples["history_labels"]))
  return {"query": query, "item": take(data.items, examples["anchor"]),
          "item_probability": data.item_probabilities()[examples["anchor"]]}


def _list_features(data: Interactions, lists: Dict[str, np.ndarray]):
  return {**_pair_features(data, lists),
          "candidates": take(data.items, lists["items"]),
          "labels": lists["labels"], "mask": lists["mask"]}


Examples = Union[Dict[str, np.ndarray], records.ExampleFiles]


def _rows(data, examples: Examples, features, shard):
  """Unbatched rows, their number, and what turns a batch of them into
  features. From files, the rows are the records and the batch is kept as
  it is; from arrays, the rows are row numbers and a batch is gathered from
  the arrays in one op (a per-row pipeline costs most of a towers' epoch)."""
  if isinstance(examples, records.ExampleFiles):
    return records.read(examples, shard), examples.num_rows, lambda x: x
  count = len(examples["user"])
  tensors = tf.nest.map_structure(tf.constant, features(data, examples))
  ds = tf.data.Dataset.range(count)
  if shard is not None:
    ds = ds.shard(*shard)

  def gather(rows):
    return tf.nest.map_structure(lambda t: tf.gather(t, rows), tensors)
  return ds, count, gather


def write_examples(folder: str, data: Interactions,
                   pairs: Dict[str, np.ndarray],
                   lists: Optional[Dict[str, np.ndarray]], num_shards: int = 1
                   ) -> Tuple[records.ExampleFiles,
                              Optional[records.ExampleFiles]]:
  """Writes the features of `pairs` and `lists` as sharded TFRecord files
  (`tfrs_ltttd.lists.records`); `make_joint_dataset` reads them back as the
  same examples.

  Returns:
    `(pair_files, list_files)` (`list_files` None when `lists` is).
  """
  return (records.write(folder, "pairs", _pair_features(data, pairs),
                        num_shards),
          None if lists is None else
          records.write(folder, "lists", _list_features(data, lists),
                        num_shards))


def _list_stream(data, lists, batch_size, num_in_batch_negatives, shuffle,
                 seed, repeat=False, shard=None):
  ds, count, gather = _rows(data, lists, _list_features, shard)
  if shuffle:
    ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  ds = ds.batch(batch_size, drop_remainder=num_in_batch_negatives > 0
                or repeat).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
  if num_in_batch_negatives:
    ds = ds.map(
        lambda x: add_in_batch_negatives(
            x, num_in_batch_negatives,
            query_id_feature=data.query_id_feature,
            item_id_feature=data.item_id_feature),
        num_parallel_calls=tf.data.AUTOTUNE)
  return ds


def make_joint_dataset(
    data: Interactions,
    pairs: Examples,
    lists: Optional[Examples],
    batch_size: int,
    list_batch_size: int,
    *,
    num_in_batch_negatives: int = 0,
    seed: int = 0,
    sampler: Optional[NegativeSampler] = None,
    shard: Optional[Tuple[int, int]] = None,
) -> tf.data.Dataset:
  """Retrieval pairs and candidate lists as one batched dataset, one pass
  over the pairs per epoch.

  Each element is `{"query": [B] (+ history [B, H]), "item": [B],
  "item_probability": [B], "lists": {"query": [B_l] (+ history),
  "candidates": [B_l, L], "labels": [B_l, L], "mask": [B_l, L]}}` with
  `B = batch_size` pairs (their items are each other's in-batch negatives)
  and `B_l = list_batch_size` lists, drawn from a shuffled, repeating
  stream, so the two streams may differ in size.

  Args:
    data: the interactions.
    pairs: output of `build_pairs`, or its files (`write_examples`).
    lists: output of `build_lists`, or its files (`write_examples`); None
      for the pairs alone (a model that scores no lists, e.g. the towers
      trained alone), whose batches then have no `"lists"`.
    batch_size: pairs per step.
    list_batch_size: lists per step.
    num_in_batch_negatives: in-batch slots to append to each list.
    seed: shuffle seed.
    sampler: adds catalogue-wide negatives to each batch of pairs
      (`tfrs_ltttd.lists.negatives`).
    shard: `(num_shards, index)`: this input pipeline's share of the pairs
      and lists (of their files, when read from files), shuffled with its
      own seed and repeated without end (a parameter-server worker's
      stream; the caller sets the steps).

  Returns:
    A batched, prefetched dataset of `len(pairs) // batch_size` steps
    (endless with `shard`).
  """
  if shard is not None:
    seed += 7919 * shard[1]  # every worker its own order
  pair_ds, num_pairs, gather = _rows(data, pairs, _pair_features, shard)
  num_lists = (None if lists is None else lists.num_rows
               if isinstance(lists, records.ExampleFiles)
               else len(lists["user"]))
  if num_lists is not None and num_lists < list_batch_size:
    raise ValueError(f"{num_lists} lists, fewer than list_batch_size "
                     f"({list_batch_size}): lower TrainConfig.list_batch_size"
                     " (ltttd: --list-batch-size).")
  if num_pairs < batch_size:
    raise ValueError(f"{num_pairs} retrieval pairs, fewer than batch_size "
                     f"({batch_size}): lower TrainConfig.batch_size (ltttd: "
                     "--batch-size).")
  pair_ds = pair_ds.shuffle(num_pairs, seed=seed,
                            reshuffle_each_iteration=True)
  if shard is not None:
    pair_ds = pair_ds.repeat()
  pair_ds = pair_ds.batch(batch_size, drop_remainder=True).map(
      gather, num_parallel_calls=tf.data.AUTOTUNE)
  if sampler is not None:
    pair_ds = sampler.apply(pair_ds, stream=shard[1] if shard else 0)
  if lists is None:
    return _finish(pair_ds)
  list_ds = _list_stream(data, lists, list_batch_size,
                         num_in_batch_negatives, True, seed + 1, repeat=True,
                         shard=shard)
  ds = tf.data.Dataset.zip((pair_ds, list_ds)).map(
      lambda pairs_, lists_: {**pairs_, "lists": lists_})
  return _finish(ds)


def _finish(ds: tf.data.Dataset) -> tf.data.Dataset:
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
