"""Answers kept for the last few questions asked."""

from __future__ import annotations

import collections
import weakref
from typing import Any, Callable, Hashable, TypeVar

import tensorflow as tf

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


_TRACED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def traced(owner: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
  """`tf.function(lambda *args: fn(owner, *args), reduce_retracing=True)`,
  made once per `owner` and `fn` and kept while `owner` lives.

  For a model or layer called again and again by the same run (an
  evaluation per epoch, per setting tried): a fresh `tf.function` per call
  would be traced at every call. `fn` must read of `owner` only what lives
  in variables, and must not hold `owner` itself (the cache holds it
  weakly).
  """
  functions = _TRACED.setdefault(owner, {})
  if fn not in functions:
    ref = weakref.ref(owner)
    functions[fn] = tf.function(lambda *args: fn(ref(), *args),
                                reduce_retracing=True)
  return functions[fn]
