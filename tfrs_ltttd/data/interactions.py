"""A container for users, items and their interactions, shared by all readers."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

Features = Dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Interactions:
  """Users, items and implicit interactions split into train and test.

  Users and items are tables of features: `users[name][u]` is feature `name`
  of the user in row `u`. Interactions refer to rows, not raw ids, so that
  lists and indexes can gather features with a plain `np.take`.

  Attributes:
    users: user features, each an array of length `num_users`; must hold
      `query_id_feature`.
    items: item features, each an array of length `num_items`; must hold
      `item_id_feature`.
    train: `{"user": [n], "item": [n], "label": [n]}` rows and graded labels
      (> 0 means relevant), in time order within each user, and optionally
      `"timestamp"` [n] (any increasing number; without it the order within
      each user is the time, see `tfrs_ltttd.data.history`).
    test: held-out interactions, same layout as `train`.
    query_id_feature: name of the user id feature.
    item_id_feature: name of the item id feature.
  """

  users: Features
  items: Features
  train: Features
  test: Features
  query_id_feature: str = "user_id"
  item_id_feature: str = "item_id"

  def __post_init__(self):
    _check_table("users", self.users, self.query_id_feature)
    _check_table("items", self.items, self.item_id_feature)
    for split in ("train", "test"):
      table = getattr(self, split)
      for key in ("user", "item", "label"):
        if key not in table:
          raise ValueError(
              f"Interactions.{split} is missing '{key}': expected keys "
              "'user', 'item' and 'label'.")
      for key, values in table.items():
        if len(values) != len(table["user"]):
          raise ValueError(
              f"Interactions.{split}['{key}'] has {len(values)} values, "
              f"'user' has {len(table['user'])}: one per interaction.")
      if np.any(table["user"] < 0) or np.any(table["user"] >= self.num_users):
        raise ValueError(
            f"Interactions.{split}['user'] holds rows outside "
            f"[0, {self.num_users}).")
      if np.any(table["item"] < 0) or np.any(table["item"] >= self.num_items):
        raise ValueError(
            f"Interactions.{split}['item'] holds rows outside "
            f"[0, {self.num_items}).")

  @property
  def num_users(self) -> int:
    return len(self.users[self.query_id_feature])

  @property
  def num_items(self) -> int:
    return len(self.items[self.item_id_feature])

  def item_probabilities(self) -> np.ndarray:
    """Share of train interactions per item row: the in-batch sampling law."""
    counts = np.bincount(self.train["item"], minlength=self.num_items)
    return (counts / max(counts.sum(), 1)).astype(np.float32)

  def fingerprint(self) -> Dict[str, Any]:
    """What identifies this data: its sizes, and a SHA-256 of every table
    (ids, features, interactions), so that two data sets of equal sizes
    still tell apart.

    Example:

    >>> from tfrs_ltttd.data import synthetic
    >>> a = synthetic.generate(synthetic.SyntheticConfig(40, 60, seed=1))
    >>> b = synthetic.generate(synthetic.SyntheticConfig(40, 60, seed=2))
    >>> a.fingerprint()["items"] == b.fingerprint()["items"] == 60
    True
    >>> a.fingerprint()["sha256"] == b.fingerprint()["sha256"]
    False
    """
    digest = hashlib.sha256()
    for table in (self.users, self.items, self.train, self.test):
      for name in sorted(table):
        values = np.ascontiguousarray(table[name])
        digest.update(f"{name}:{values.dtype.str}:{values.shape}".encode())
        digest.update(values.tobytes())
    return {"users": self.num_users, "items": self.num_items,
            "train": len(self.train["user"]), "test": len(self.test["user"]),
            "sha256": digest.hexdigest()}


def _check_table(name: str, table: Mapping[str, np.ndarray], id_feature: str):
  if id_feature not in table:
    raise ValueError(
        f"Interactions.{name} is missing its id feature '{id_feature}'.")
  lengths = {k: len(v) for k, v in table.items()}
  if len(set(lengths.values())) != 1:
    raise ValueError(
        f"Interactions.{name}: every feature must have one value per row, "
        f"got lengths {lengths}.")


def interaction_matrix(data: Interactions) -> np.ndarray:
  """`[num_users, num_items]` float32, 1 where the user has a train
  interaction with the item (any label: the user chose it)."""
  x = np.zeros((data.num_users, data.num_items), np.float32)
  x[data.train["user"], data.train["item"]] = 1.0
  return x


def take(table: Mapping[str, np.ndarray], rows: np.ndarray) -> Features:
  """Gathers the features of `rows` (any shape) from a feature table."""
  return {name: np.take(values, rows, axis=0) for name, values in table.items()}


def split_by_time(users: np.ndarray, items: np.ndarray, labels: np.ndarray,
                  when: np.ndarray, num_users: int, test_fraction: float,
                  ties: Optional[np.ndarray] = None
                  ) -> Tuple[Features, Features]:
  """Holds out each user's last `test_fraction` of interactions by time.

  Every user with interactions keeps at least one in test (a user with one
  interaction only has it in test). Within a user, rows are ordered by
  `when`, then by `ties` (default: the item row).

  Args:
    users: `[n]` user rows.
    items: `[n]` item rows.
    labels: `[n]` graded labels.
    when: `[n]` timestamps.
    num_users: number of user rows.
    test_fraction: in (0, 1).
    ties: `[n]` order among equal times.

  Returns:
    `(train, test)` splits with `user`, `item`, `label`, `timestamp`.
  """
  if not 0.0 < test_fraction < 1.0:
    raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
  users = np.asarray(users, np.int64)
  order = np.lexsort((items if ties is None else ties, when, users))
  users, items = users[order], np.asarray(items, np.int64)[order]
  labels = np.asarray(labels, np.float32)[order]
  when = np.asarray(when)[order]
  if np.all(np.mod(when, 1) == 0):
    when = when.astype(np.int64)
  counts = np.bincount(users, minlength=num_users)
  position = np.arange(len(users)) - np.repeat(np.cumsum(counts) - counts,
                                               counts)
  n_test = np.maximum(1, np.round(test_fraction * counts)).astype(int)
  is_test = position >= (counts - n_test)[users]

  def split(mask):
    return {"user": users[mask], "item": items[mask], "label": labels[mask],
            "timestamp": when[mask]}

  return split(~is_test), split(is_test)


def validation_split(data: Interactions, fraction: float = 0.1
                     ) -> Interactions:
  """Holds out each user's last `fraction` of train as the new test split.

  For choosing settings without looking at the real test split: the
  returned data has train = the earlier train interactions and test = the
  held-out later ones (users with a single train interaction keep it in
  train).
  """
  if not 0.0 < fraction < 1.0:
    raise ValueError(f"fraction must be in (0, 1), got {fraction}.")
  train = data.train
  order = np.argsort(train["user"], kind="stable")  # keeps time order
  users = train["user"][order]
  counts = np.bincount(users, minlength=data.num_users)
  position = np.arange(len(users)) - np.repeat(np.cumsum(counts) - counts,
                                               counts)
  n_hold = np.where(counts > 1, np.maximum(1, np.round(fraction * counts)), 0)
  held = position >= (counts - n_hold)[users]
  pick = lambda mask: {k: v[order][mask] for k, v in train.items()}  # noqa: E731
  return dataclasses.replace(data, train=pick(~held), test=pick(held))


def per_user(users: np.ndarray, num_users: int, values: np.ndarray,
             fill) -> np.ndarray:
  """`[num_users, most per user]` table of `values` grouped by user row, in
  their original order, padded with `fill`."""
  order = np.argsort(users, kind="stable")
  counts = np.bincount(users, minlength=num_users)
  column = np.arange(len(users)) - np.repeat(np.cumsum(counts) - counts,
                                             counts)
  table = np.full((num_users, max(int(counts.max(initial=0)), 1)), fill,
                  dtype=np.asarray(values).dtype)
  table[users[order], column] = np.asarray(values)[order]
  return table
