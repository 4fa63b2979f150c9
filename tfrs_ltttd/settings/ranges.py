"""One validation for every setting: ranges declared beside each field.

Every settings dataclass of the package (`ModelConfig`, `TrainConfig`,
`SyntheticConfig`, `TableSource`, `SearchSpace`) declares each numeric
field's accepted values with `setting(default, Range(...))`, and its
`__post_init__` calls `check(self)`: a value that is not a number, not
finite (NaN, inf) or out of range is refused when the settings are made,
before any data is generated or read, with one line naming the field and the
range. The command line parses its numeric flags with the same ranges
(`Range.parse`), so a flag is refused with the flag's name.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Optional

_RANGE = "range"


@dataclasses.dataclass(frozen=True)
class Range:
  """The values a numeric setting accepts.

  Attributes:
    low, high: bounds (None: unbounded on that side).
    low_open, high_open: exclude the bound itself.
    integer: a whole number (`int`), else any finite real number.

  Example:

  >>> Range(low=0, high=1, high_open=True).describe()
  'a finite number in [0, 1)'
  >>> Range(low=1, integer=True).problem(0.5)
  'must be an integer >= 1'
  """

  low: Optional[float] = None
  high: Optional[float] = None
  low_open: bool = False
  high_open: bool = False
  integer: bool = False

  def describe(self) -> str:
    """The accepted values in words."""
    kind = "an integer" if self.integer else "a finite number"
    low, high = _show(self.low), _show(self.high)
    if self.low is not None and self.high is not None:
      return (f"{kind} in {'(' if self.low_open else '['}{low}, {high}"
              f"{')' if self.high_open else ']'}")
    if self.low is not None:
      return f"{kind} {'>' if self.low_open else '>='} {low}"
    if self.high is not None:
      return f"{kind} {'<' if self.high_open else '<='} {high}"
    return kind

  def problem(self, value: Any) -> Optional[str]:
    """None if `value` is accepted, else what is wrong, e.g. "must be a
    finite number > 0"."""
    wrong = f"must be {self.describe()}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
      return wrong
    if self.integer and not isinstance(value, numbers.Integral):
      return wrong
    if not math.isfinite(value):
      return wrong
    if self.low is not None and (value <= self.low if self.low_open
                                 else value < self.low):
      return wrong
    if self.high is not None and (value >= self.high if self.high_open
                                  else value > self.high):
      return wrong
    return None

  def parse(self, text: str):
    """`text` as the setting's value (for `argparse`'s `type=`).

    Raises:
      ValueError: the text is not a number, or the number is out of range;
        the message says what is accepted.
    """
    try:
      value = int(text) if self.integer else float(text)
    except ValueError:
      raise ValueError(f"expected {self.describe()}, got {text!r}") from None
    problem = self.problem(value)
    if problem:
      raise ValueError(f"expected {self.describe()}, got {text!r}")
    return value


#: Ranges most settings share.
POSITIVE = Range(low=0, low_open=True)
NON_NEGATIVE = Range(low=0)
POSITIVE_INT = Range(low=1, integer=True)
NON_NEGATIVE_INT = Range(low=0, integer=True)
SHARE = Range(low=0, high=1, high_open=True)
#: A share that must hold something on both sides (a held-out split).
OPEN_SHARE = Range(low=0, high=1, low_open=True, high_open=True)
SEED = Range(low=0, high=2**32 - 1, integer=True)


def _show(bound: Optional[float]) -> str:
  if bound is None:
    return ""
  return str(int(bound)) if float(bound).is_integer() else str(bound)


def setting(default: Any, accepted: Range, **field_options) -> Any:
  """A dataclass field whose values `check` holds to `accepted`; a tuple
  value is checked element by element.

  Example:

  >>> @dataclasses.dataclass(frozen=True)
  ... class Run:
  ...   epochs: int = setting(3, Range(low=1, integer=True))
  ...   def __post_init__(self):
  ...     check(self)
  >>> Run(epochs=0)
  Traceback (most recent call last):
  ...
  ValueError: Run.epochs must be an integer >= 1, got 0.
  """
  metadata = {**field_options.pop("metadata", {}), _RANGE: accepted}
  if isinstance(default, (list, dict, set)):
    raise TypeError("setting: use a tuple default, not a mutable one.")
  return dataclasses.field(default=default, metadata=metadata,
                           **field_options)


def range_of(owner, name: str) -> Range:
  """The `Range` declared for field `name` of the dataclass `owner`."""
  for field in dataclasses.fields(owner):
    if field.name == name and _RANGE in field.metadata:
      return field.metadata[_RANGE]
  raise KeyError(f"{getattr(owner, '__name__', owner)}.{name} declares no "
                 "range.")


def check(config) -> None:
  """Holds every field of the dataclass `config` declared with `setting` to
  its range.

  Raises:
    ValueError: `"<Class>.<field> must be ..., got <value>."` for the first
      field out of range.
  """
  for field in dataclasses.fields(config):
    accepted = field.metadata.get(_RANGE)
    if accepted is None:
      continue
    value = getattr(config, field.name)
    values = value if isinstance(value, (tuple, list)) else (value,)
    for one in values:
      problem = accepted.problem(one)
      if problem:
        raise ValueError(f"{type(config).__name__}.{field.name} {problem}, "
                         f"got {value!r}.")
