"""Training examples: retrieval pairs and listwise candidate lists.

Training reads two streams (`tfrs_ltttd.lists.datasets`): retrieval pairs (a query
and the item the user chose) for the towers' in-batch softmax, and candidate
lists for the re-ranker and for distillation. Both are cut from the train
interactions, and each example is what a request at its time t would be:
its query is the user's features plus the user's history strictly before t
(`tfrs_ltttd.data.history`).

`build_lists` anchors one list on each relevant train interaction (user u,
item a at time t). The list holds, in this order before a per-row shuffle:

1. positives: the anchor and up to `num_positives - 1` other train positives
   of u *from t on* (never a past one: at serving the candidates are items
   the user has not seen, so a list must not reward an item the history
   already holds), with their graded labels;
2. seen negatives: in up to `num_seen_negatives` of the uniform negatives'
   slots, train interactions of u from t on that are not relevant (label 0:
   chosen, then rated low), labelled 0.
   Serving lists hold such items too (the towers, trained on every
   interaction, rank them high), and only a re-ranker that reads graded
   labels can learn to put them down. Where u has fewer, the slots get
   uniform negatives, so data without label-0 interactions gets the same
   lists as without them;
3. hard negatives: drawn from `hard_candidates[u]`, the items an index (for
   instance the current towers' top-K) ranks highest for u, so that the
   re-ranker trains on lists that look like the ones it serves;
4. uniform negatives: drawn from the whole catalogue.

In-batch negatives (the anchors of the other rows of a batch) are added after
batching by `tfrs_ltttd.lists.datasets.add_in_batch_negatives`, so they change with every shuffle.

A slot is padding (mask False, label -1, the TF-Ranking convention) when it
would repeat an item already in the list, or when a negative is any train
item of u. Everything is vectorised over examples with numpy.

With `list_holdout_fraction` f > 0 the two streams split each user's train in
time (against the train/serve skew of the lists): the earlier
1 - f are retrieval pairs only, the latest f anchor the lists only. The
towers then never fit the positives of the lists the transformer learns
from, so a list positive's two-tower score looks as it will at serving, not
inflated by the retrieval loss that saw it.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from tfrs_ltttd.data import history as history_lib
from tfrs_ltttd.data.interactions import Interactions, per_user

PAD_LABEL = -1.0


def build_lists(
    data: Interactions,
    list_size: int,
    *,
    num_positives: int = 4,
    num_hard_negatives: int = 0,
    hard_candidates: Optional[np.ndarray] = None,
    num_in_batch_negatives: int = 0,
    num_seen_negatives: int = 0,
    seed: int = 0,
    history_length: int = 0,
    list_holdout_fraction: float = 0.0,
) -> Dict[str, np.ndarray]:
  """Builds one candidate list per relevant train interaction (of the list
  part, see `list_holdout_fraction`).

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
    history_length: H; each list also gets u's last H interactions
      strictly before its anchor's time.
    list_holdout_fraction: f, see the module docstring: lists are anchored
      on the latest f of each user's train only (0: on all of it).

  Returns:
    A dict of numpy arrays: `user` [N] and `anchor` [N] rows, `items`
    [N, L - num_in_batch_negatives] item rows, `labels` (float32, -1 on
    padding) and `mask` (bool) of the same shape, and with
    `history_length > 0`, `history` [N, H] item rows (-1 padding) and
    `history_labels` [N, H]. The remaining slots are uniform negatives.

  Raises:
    ValueError: if the slot counts do not fit in `list_size`, or
      `hard_candidates` is missing or has the wrong number of rows.
  """
  own = list_size - num_in_batch_negatives
  if list_size < 2:
    raise ValueError(f"list_size must be >= 2, got {list_size}.")
  if num_positives < 1:
    raise ValueError(f"num_positives must be >= 1, got {num_positives}.")
  if min(num_hard_negatives, num_in_batch_negatives, num_seen_negatives) < 0:
    raise ValueError("num_hard_negatives, num_in_batch_negatives and "
                     "num_seen_negatives must be >= 0.")
  if num_positives + num_hard_negatives > own:
    raise ValueError(
        f"list_size ({list_size}) must exceed num_positives ({num_positives})"
        f" + num_hard_negatives ({num_hard_negatives}) + "
        f"num_in_batch_negatives ({num_in_batch_negatives}).")
  # Seen negatives take uniform negatives' slots, as many as there are.
  num_seen_negatives = min(num_seen_negatives,
                           own - num_positives - num_hard_negatives)
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
  if not 0.0 <= list_holdout_fraction < 1.0:
    raise ValueError("list_holdout_fraction must be in [0, 1), got "
                     f"{list_holdout_fraction}.")
  rng = np.random.default_rng(seed)

  train = data.train
  when_all = history_lib.times(train)
  chosen = (train["label"] > 0) & list_part(data, list_holdout_fraction)
  users, anchors = train["user"][chosen], train["item"][chosen]
  labels_all = train["label"][chosen].astype(np.float32)
  when = when_all[chosen]
  n = len(users)

  relevant = train["label"] > 0
  # Positives by user in time order, with their times, for "from t on".
  in_time = np.lexsort((np.arange(len(when_all)), when_all, train["user"]))
  order = in_time[relevant[in_time]]
  pos_items = per_user(train["user"][order], data.num_users,
                       train["item"][order], -1)
  pos_labels = per_user(train["user"][order], data.num_users,
                        train["label"][order].astype(np.float32), 0.0)
  pos_times = per_user(train["user"][order], data.num_users,
                       when_all[order], np.inf)
  seen_keys = np.unique(train["user"] * data.num_items + train["item"])

  def is_seen(u, items):
    return np.isin(u[:, None] * data.num_items + items, seen_keys)

  def sample(cand, excluded, k):
    """Up to `k` of each row of `cand` at random, none where `excluded`:
    the columns picked and whether each holds a real pick."""
    keys = rng.random(cand.shape)
    keys[excluded] = np.inf
    pick = np.argsort(keys, axis=1)[:, :k]
    return pick, np.take_along_axis(keys, pick, axis=1) < np.inf

  # 1. positives: the anchor, then others of the same user from t on.
  others = pos_items[users]
  pick, other_valid = sample(
      others, (others < 0) | (others == anchors[:, None])
      | (pos_times[users] < when[:, None]), num_positives - 1)
  other_items = np.take_along_axis(others, pick, axis=1)
  other_labels = np.take_along_axis(pos_labels[users], pick, axis=1)
  items = [anchors[:, None], other_items]
  labels = [labels_all[:, None], other_labels]
  valid = [np.ones((n, 1), bool), other_valid]

  # 2. seen negatives: u's label-0 interactions from t on, else uniform.
  if num_seen_negatives:
    low = in_time[~relevant[in_time]]
    low_items = per_user(train["user"][low], data.num_users,
                         train["item"][low], -1)
    low_times = per_user(train["user"][low], data.num_users, when_all[low],
                         -np.inf)
    cand = low_items[users]
    pick, found = sample(cand, (cand < 0) | (low_times[users] < when[:, None]),
                         num_seen_negatives)
    found = np.pad(found, ((0, 0), (0, num_seen_negatives - found.shape[1])))
    picked = np.pad(np.take_along_axis(cand, pick, axis=1),
                    ((0, 0), (0, num_seen_negatives - pick.shape[1])))
    uniform = rng.integers(0, data.num_items, (n, num_seen_negatives))
    items.append(np.where(found, picked, uniform))
    labels.append(np.zeros((n, num_seen_negatives), np.float32))
    valid.append(found | ~is_seen(users, uniform))

  # 3. hard negatives from the index's candidates, minus the positives.
  if num_hard_negatives:
    cand = hard_candidates[users]
    # Rows < 0 are an index's padding (a user with few unseen items).
    pick, found = sample(cand, (cand < 0) | is_seen(users, cand),
                         num_hard_negatives)
    items.append(np.take_along_axis(cand, pick, axis=1))
    labels.append(np.zeros((n, num_hard_negatives), np.float32))
    valid.append(found)

  # 4. uniform negatives fill the rest.
  num_uniform = own - num_positives - num_seen_negatives - num_hard_negatives
  uniform = rng.integers(0, data.num_items, (n, num_uniform))
  items.append(uniform)
  labels.append(np.zeros((n, num_uniform), np.float32))
  valid.append(~is_seen(users, uniform))

  items = np.concatenate(items, axis=1)
  labels = np.concatenate(labels, axis=1)
  valid = np.concatenate(valid, axis=1) & ~_later_duplicates(items)
  items = np.where(valid, items, 0)
  labels = np.where(valid, labels, PAD_LABEL).astype(np.float32)

  shuffle = np.argsort(rng.random(items.shape), axis=1)
  out = {
      "user": users,
      "anchor": anchors,
      "items": np.take_along_axis(items, shuffle, axis=1),
      "labels": np.take_along_axis(labels, shuffle, axis=1),
      "mask": np.take_along_axis(valid, shuffle, axis=1),
  }
  _add_history(out, train, chosen, history_length)
  return out


def list_part(data: Interactions, fraction: float) -> np.ndarray:
  """`[n]` bool over train: the latest `fraction` of each user's train (all
  of it when `fraction` is 0)."""
  if not 0.0 <= fraction < 1.0:
    raise ValueError(f"list_holdout_fraction must be in [0, 1), got "
                     f"{fraction}.")
  train = data.train
  if fraction == 0:
    return np.ones(len(train["user"]), bool)
  when = history_lib.times(train)
  order = np.lexsort((np.arange(len(when)), when, train["user"]))
  rank = np.empty(len(when), np.int64)
  rank[order] = np.arange(len(when))
  counts = np.bincount(train["user"], minlength=data.num_users)
  position = rank - (np.cumsum(counts) - counts)[train["user"]]
  n_list = np.where(counts > 1, np.maximum(1, np.round(fraction * counts)),
                    0)[train["user"]]
  return position >= counts[train["user"]] - n_list


def _add_history(out, table, chosen, history_length):
  if history_length:
    rows, grades = history_lib.example_histories(table, history_length)
    out["history"], out["history_labels"] = rows[chosen], grades[chosen]


def build_pairs(data: Interactions, *, history_length: int = 0,
                all_interactions: bool = True,
                list_holdout_fraction: float = 0.0) -> Dict[str, np.ndarray]:
  """The retrieval positives: one (query, item) pair per train interaction.

  Args:
    data: users, items and interactions.
    history_length: H; each pair's query gets u's last H interactions
      strictly before it.
    all_interactions: every interaction is a positive, relevant or not (the
      user did choose the item); otherwise the relevant ones only.
    list_holdout_fraction: leave out each user's latest share of train,
      which anchors the lists (see the module docstring).

  Returns:
    `user` [N] and `anchor` [N] rows, plus `history` and `history_labels`
    [N, H] when `history_length > 0`.
  """
  train = data.train
  chosen = ~list_part(data, list_holdout_fraction) if (
      list_holdout_fraction) else np.ones(len(train["user"]), bool)
  if not all_interactions:
    chosen &= train["label"] > 0
  out = {"user": train["user"][chosen], "anchor": train["item"][chosen]}
  _add_history(out, train, chosen, history_length)
  return out


def _later_duplicates(items: np.ndarray) -> np.ndarray:
  """True where a row repeats an item that stands earlier in the same row."""
  order = np.argsort(items, axis=1, kind="stable")
  ranked = np.take_along_axis(items, order, axis=1)
  dup_ranked = np.zeros(items.shape, bool)
  dup_ranked[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
  dup = np.empty_like(dup_ranked)
  np.put_along_axis(dup, order, dup_ranked, axis=1)
  return dup
