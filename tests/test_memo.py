import pytest

from tfrs_ltttd._memo import LastAnswers


def test_keeps_the_last_answers_and_forgets_the_oldest():
  calls = []

  def compute(key):
    calls.append(key)
    return key * 10

  kept = LastAnswers(size=2)
  assert [kept.get(k, lambda k=k: compute(k)) for k in (1, 2, 1, 3, 2, 1)] \
      == [10, 20, 10, 30, 20, 10]
  # 1 and 2 are kept; 3 forgets 1 (the oldest asked first), 1 forgets 2.
  assert calls == [1, 2, 3, 1]
  assert len(kept) == 2


def test_a_failed_computation_forgets_nothing():
  kept = LastAnswers(size=1)
  kept.get("a", lambda: 1)

  def fail():
    raise RuntimeError("no answer")

  with pytest.raises(RuntimeError, match="no answer"):
    kept.get("b", fail)
  assert kept.get("a", lambda: 2) == 1


def test_size_must_be_positive():
  with pytest.raises(ValueError, match="size must be >= 1, got 0"):
    LastAnswers(size=0)
