"""A seeded synthetic recommendation data set with planted latent structure.

Users and items get latent vectors built from their categorical features plus
noise. Each user picks items one after another (a Gumbel-softmax draw over a
known utility, without repeats), and the utility moves with time in two
planted ways, so that a user's history says more than the user id:

- drifting interests: the user's latent slides from one taste (its segment)
  to a second one over its timeline, so the latest picks tell the current
  taste best;
- sequences: the category of the previous pick is more likely again;
- brand loyalty: an item of a brand the user has picked before is more
  likely. Brands are many (each a handful of items within one category), so
  a dot product of a pooled history and an item vector blurs which brands a
  user has picked, while a model that matches each candidate's brand
  against the history's sees it exactly.

Because the utility is known, tests can check that a model learns it, and the
package needs no download to run.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfrs_ltttd.data.interactions import Interactions
from tfrs_ltttd.settings import (NON_NEGATIVE, OPEN_SHARE, POSITIVE,
                                 POSITIVE_INT, SEED, Range, check, setting)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  """Sizes and strengths of the synthetic world.

  Attributes:
    num_users: number of users.
    num_items: number of items in the catalogue.
    num_segments: user segments (a categorical user feature).
    num_categories: item categories (a categorical item feature).
    brands_per_category: brands within each category (the categorical item
      feature `item_brand`; an item's brand is one of its category's).
    latent_dim: dimension of the planted user and item latents.
    interactions_per_user: mean number of interactions per user (at least 5).
    test_fraction: share of each user's last interactions held out.
    popularity: strength of the Zipf-like item popularity term.
    price_affinity: strength of the user age x item price term, a feature
      cross that a dot product of two towers can only approximate.
    noise: scale of the per-user and per-item latent noise.
    drift: how far a user's taste moves, from 0 (a fixed taste) to 1 (from
      its first taste all the way to its second over its timeline).
    stickiness: utility bonus of the previous pick's category.
    brand_loyalty: utility bonus of the brands of the user's earlier picks.
    temperature: softness of the choice; lower is more deterministic.
    seed: the random seed; the same seed gives the same data.
  """

  num_users: int = setting(2000, POSITIVE_INT)
  num_items: int = setting(1000, POSITIVE_INT)
  num_segments: int = setting(6, POSITIVE_INT)
  num_categories: int = setting(12, POSITIVE_INT)
  brands_per_category: int = setting(12, POSITIVE_INT)
  latent_dim: int = setting(8, POSITIVE_INT)
  interactions_per_user: int = setting(20, Range(low=5, integer=True))
  test_fraction: float = setting(0.2, OPEN_SHARE)
  popularity: float = setting(0.5, Range())
  price_affinity: float = setting(1.0, Range())
  noise: float = setting(0.5, NON_NEGATIVE)
  drift: float = setting(1.0, Range(low=0, high=1))
  stickiness: float = setting(1.0, Range())
  brand_loyalty: float = setting(1.0, Range())
  temperature: float = setting(0.5, POSITIVE)
  seed: int = setting(0, SEED)

  def __post_init__(self):
    check(self)
    if self.interactions_per_user * 2 > self.num_items:
      raise ValueError(
          "SyntheticConfig.interactions_per_user must be at most half of "
          f"num_items ({self.num_items}), got {self.interactions_per_user}.")


@dataclasses.dataclass(frozen=True)
class SyntheticData(Interactions):
  """`Interactions` plus the planted truth: `utility[u, i]` of every pair,
  at the midpoint of the user's timeline and without the sequence and brand
  terms."""

  utility: np.ndarray = dataclasses.field(default=None, repr=False)


def generate(config: SyntheticConfig = SyntheticConfig()) -> SyntheticData:
  """Draws users, items and timed interactions from the planted model.

  User features: `user_id` (int64), `user_segment` (str, the segment of the
  first taste), `user_age` (float32). Item features: `item_id` (int64),
  `item_category` (str), `item_brand` (str), `item_price` (float32).
  Labels are graded: 2 for the top 30 % of a user's picks by their utility
  when picked, 1 for the rest. Each interaction has a `timestamp`
  (seconds).

  Args:
    config: sizes, strengths and seed.

  Returns:
    A `SyntheticData` with a per-user time-ordered train/test split (each
    user's last `test_fraction` of picks held out).

  Example:

  >>> data = generate(SyntheticConfig(num_users=50, num_items=100, seed=1))
  >>> data.num_users, data.num_items
  (50, 100)
  """
  c = config
  rng = np.random.default_rng(c.seed)
  k = c.latent_dim

  segment = rng.integers(0, c.num_segments, c.num_users)
  later = rng.integers(0, c.num_segments, c.num_users)
  category = rng.integers(0, c.num_categories, c.num_items)
  segment_centre = rng.normal(size=(c.num_segments, k))
  category_centre = rng.normal(size=(c.num_categories, k))
  first = segment_centre[segment] + c.noise * rng.normal(size=(c.num_users, k))
  second = segment_centre[later] + c.noise * rng.normal(size=(c.num_users, k))
  item_latent = category_centre[category] + c.noise * rng.normal(
      size=(c.num_items, k))

  age = rng.uniform(18.0, 70.0, c.num_users).astype(np.float32)
  price = np.exp(rng.normal(3.0, 0.8, c.num_items)).astype(np.float32)
  age_z = (age - 44.0) / 15.0
  price_z = (np.log(price) - 3.0) / 0.8
  popularity = -np.log1p(rng.permutation(c.num_items)) * c.popularity
  brand = category * c.brands_per_category + rng.integers(
      0, c.brands_per_category, c.num_items)
  static = (popularity[None, :]
            - c.price_affinity * np.abs(age_z[:, None] - price_z[None, :]))

  def taste(rows, w):  # position w in the timeline -> [len(rows), k] latent
    w = c.drift * w[:, None]
    return (1.0 - w) * first[rows] + w * second[rows]

  counts = np.clip(rng.poisson(c.interactions_per_user, c.num_users), 5,
                   2 * c.interactions_per_user)
  picked = np.zeros((c.num_users, c.num_items), bool)
  loyal = np.zeros((c.num_users, c.num_categories * c.brands_per_category),
                   bool)  # the brands each user has picked
  picks = np.full((c.num_users, counts.max()), -1, np.int64)
  value = np.zeros(picks.shape, np.float32)
  previous = np.full(c.num_users, -1)
  for t in range(counts.max()):
    active = np.flatnonzero(counts > t)
    w = t / np.maximum(counts[active] - 1, 1)
    utility_t = taste(active, w) @ item_latent.T / np.sqrt(k) + static[active]
    utility_t += c.stickiness * (
        (category[None, :] == category[previous[active]][:, None])
        & (previous[active] >= 0)[:, None])
    utility_t += c.brand_loyalty * loyal[active][:, brand]
    noisy = utility_t / c.temperature + rng.gumbel(size=utility_t.shape)
    noisy[picked[active]] = -np.inf
    choice = np.argmax(noisy, axis=1)
    picks[active, t] = choice
    value[active, t] = utility_t[np.arange(len(active)), choice]
    picked[active, choice] = True
    loyal[active, brand[choice]] = True
    previous[active] = choice
  utility = (taste(np.arange(c.num_users), np.full(c.num_users, 0.5)) @ item_latent.T / np.sqrt(k)
             + static).astype(np.float32)

  start = rng.uniform(0, 3e7, c.num_users)
  gaps = rng.exponential(86400.0, picks.shape)
  when = (start[:, None] + np.cumsum(gaps, axis=1)).astype(np.int64)
  users, items, labels, stamps, train_mask = [], [], [], [], []
  for u in range(c.num_users):
    n = counts[u]
    grade = np.ones(n, np.float32)
    top = np.argsort(-value[u, :n])[:max(1, int(0.3 * n))]
    grade[top] = 2.0
    n_test = max(1, int(round(c.test_fraction * n)))
    users.append(np.full(n, u))
    items.append(picks[u, :n])
    labels.append(grade)
    stamps.append(when[u, :n])
    train_mask.append(np.arange(n) < n - n_test)
  users, items = np.concatenate(users), np.concatenate(items)
  labels, train_mask = np.concatenate(labels), np.concatenate(train_mask)
  stamps = np.concatenate(stamps)

  def split(mask):
    return {"user": users[mask].astype(np.int64),
            "item": items[mask].astype(np.int64),
            "label": labels[mask], "timestamp": stamps[mask]}

  return SyntheticData(
      users={
          "user_id": np.arange(c.num_users, dtype=np.int64),
          "user_segment": np.array([f"s{s}" for s in segment]),
          "user_age": age,
      },
      items={
          "item_id": np.arange(c.num_items, dtype=np.int64),
          "item_category": np.array([f"c{x}" for x in category]),
          "item_brand": np.array([f"b{x}" for x in brand]),
          "item_price": price,
      },
      train=split(train_mask),
      test=split(~train_mask),
      utility=utility,
  )
