"""The training settings, validated once where they are made."""

from __future__ import annotations

import dataclasses

from tfrs_ltttd.settings import (NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT,
                                 SEED, SHARE, check, setting)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How `tfrs_ltttd.training.fit` trains.

  Attributes:
    epochs: passes over the train interactions.
    rerank_epochs: passes of the cascade's second stage, the re-ranker
      trained alone on the frozen towers' lists (0: `epochs`, as many as
      the towers; `tfrs_ltttd.training.train_cascade`).
    closing_epochs: passes of LT-TTD's closing stage: after the joint
      epochs, its re-ranker alone on lists from its final, frozen towers, as
      the cascade's second stage trains its own, so that the re-ranker
      learns the lists those towers serve it (0: none;
      `tfrs_ltttd.training.train_system`).
    batch_size: retrieval pairs per step (in-batch negatives of each other).
    list_batch_size: candidate lists per step.
    learning_rate: Adam's learning rate.
    list_size: L, the candidate list length in training.
    num_positives: at most this many positives per list.
    num_in_batch_negatives: slots for anchors of other rows of the batch.
    num_hard_negatives: slots for hard negatives, from the second epoch on.
    num_seen_negatives: of the list's uniform negatives' slots (those left
      after positives, hard and in-batch negatives), up to this many hold
      the user's label-0 train interactions from the list's time on (chosen,
      then rated low), which serving lists hold too
      (`tfrs_ltttd.lists.build_lists`); a user with fewer keeps uniform
      negatives there, so data without label 0 is unaffected.
    num_sampled_negatives: catalogue-wide negatives added to each step's
      retrieval softmax, beside the in-batch ones (0: none;
      `tfrs_ltttd.lists.negatives`); they do not depend on the global batch,
      which parameter-server workers do not see.
    negative_sampling: their law, `"frequency"` or `"uniform"` (log-Q
      corrected either way).
    hard_negative_depth: hard negatives come from the current towers' top
      `hard_negative_depth`, after skipping the first `hard_negative_skip`
      (the very top unseen items are often future positives, and training
      them as negatives hurts recall).
    hard_negative_skip: see above.
    distillation_warmup_epochs: epochs at the start with the distillation
      weight held at 0, so that the teacher is ahead of the student before
      it teaches.
    all_interactions: every train interaction is a retrieval positive, not
      only the relevant ones (the user chose the item; lists still train on
      graded labels).
    list_holdout_fraction: the latest share of each user's train whose
      examples train the re-ranker and are not retrieval positives, so that
      the lists' two-tower scores look like serving ones
      (`tfrs_ltttd.lists`; 0: every example serves both).
    seed: seed of lists, shuffles and weights.
  """

  epochs: int = setting(3, POSITIVE_INT)
  rerank_epochs: int = setting(0, NON_NEGATIVE_INT)
  closing_epochs: int = setting(0, NON_NEGATIVE_INT)
  batch_size: int = setting(256, POSITIVE_INT)
  list_batch_size: int = setting(128, POSITIVE_INT)
  learning_rate: float = setting(1e-3, POSITIVE)
  list_size: int = setting(32, POSITIVE_INT)
  num_positives: int = setting(4, POSITIVE_INT)
  num_in_batch_negatives: int = setting(4, NON_NEGATIVE_INT)
  num_hard_negatives: int = setting(16, NON_NEGATIVE_INT)
  num_seen_negatives: int = setting(8, NON_NEGATIVE_INT)
  num_sampled_negatives: int = setting(0, NON_NEGATIVE_INT)
  negative_sampling: str = "frequency"
  hard_negative_depth: int = setting(100, POSITIVE_INT)
  hard_negative_skip: int = setting(10, NON_NEGATIVE_INT)
  distillation_warmup_epochs: int = setting(0, NON_NEGATIVE_INT)
  all_interactions: bool = True
  list_holdout_fraction: float = setting(0.0, SHARE)
  seed: int = setting(0, SEED)

  def __post_init__(self):
    check(self)
    if self.negative_sampling not in ("frequency", "uniform"):
      raise ValueError("TrainConfig.negative_sampling must be 'frequency' or "
                       f"'uniform', got '{self.negative_sampling}'.")
    if self.num_in_batch_negatives >= self.list_batch_size:
      raise ValueError("TrainConfig.num_in_batch_negatives must be < "
                       f"list_batch_size ({self.list_batch_size}), got "
                       f"{self.num_in_batch_negatives}.")
    if self.hard_negative_depth - self.hard_negative_skip < (
        self.num_hard_negatives):
      raise ValueError(
          "TrainConfig.hard_negative_depth - hard_negative_skip must be >= "
          f"num_hard_negatives ({self.num_hard_negatives}).")
    if (self.num_positives + self.num_hard_negatives
        + self.num_in_batch_negatives >= self.list_size):
      raise ValueError(
          f"TrainConfig.list_size ({self.list_size}) must exceed "
          "num_positives + num_hard_negatives + num_in_batch_negatives.")
