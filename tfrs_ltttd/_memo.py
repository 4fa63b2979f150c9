"""Answers kept for the last few questions asked."""

from __future__ import annotations

import collections
from typing import Callable, Hashable, TypeVar

_T = TypeVar("_T")


class LastAnswers:
  """The answers to the last `size` keys asked for, oldest forgotten first.

  For results that are slow to compute and asked for again by the same run
  (e.g. a fit on one data set, keyed by its fingerprint), without keeping
  every data set a long-lived process has seen.

  Args:
    size: how many answers to keep.

  Example:

  >>> kept = LastAnswers(size=2)
  >>> kept.get("a", lambda: 1), kept.get("a", lambda: 2)
  (1, 1)
  """

  def __init__(self, size: int = 4):
    if size < 1:
      raise ValueError(f"size must be >= 1, got {size}.")
    self.size = size
    self._answers: collections.OrderedDict = collections.OrderedDict()

  def get(self, key: Hashable, compute: Callable[[], _T]) -> _T:
    """`key`'s kept answer, or `compute()`'s, kept in place of the oldest
    (nothing is forgotten if `compute` raises)."""
    if key not in self._answers:
      answer = compute()
      while len(self._answers) >= self.size:
        self._answers.popitem(last=False)
      self._answers[key] = answer
    return self._answers[key]

  def __len__(self) -> int:
    return len(self._answers)
