"""Your own data: interactions and feature tables from DataFrames or files.

A TFRS user's data is a table of interactions (user, item, time, optionally a
rating or a label) and, optionally, a table of user features and one of item
features. `from_dataframes` turns pandas DataFrames into `Interactions`;
`load` reads CSV or Parquet files first (`TableSource` records how, so a
checkpoint can read them again).

Conventions:

- Default column names `user`, `item`, `timestamp`, `rating`; others are
  mapped with `columns={"user": "customer_id", ...}`. Ids may be integers or
  strings. Timestamps must be numbers or datetimes (datetimes become seconds).
- Labels: a `label` column is taken as graded relevance (> 0 relevant, >= 0);
  else a rating >= `relevant_rating` gives label `rating - relevant_rating +
  1` and a lower rating label 0 (seen, never a positive), as the MovieLens
  readers do with 4 on a 5-star scale; with neither, every interaction is a
  positive with label 1.
- Feature columns of the user and item tables (every column but the id):
  floats are numeric, integers, booleans and strings are categorical, and a
  string column whose values contain `separator` (e.g. `"Action|Comedy"`) is
  multi-valued and becomes one 0/1 numeric feature per value
  (`<column>_<value>`), as the MovieLens genres do. `kinds={"age":
  "numeric"}` overrides the guess (`"categorical"`, `"numeric"`, `"multi"`).
  Missing numbers are filled with the column's median, missing categories
  with `""`.
- The split is the readers': each user's last `test_fraction` of
  interactions by time is the test split.

Every error names the file (or table), the line or row where one applies,
the column, and what was expected.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from tfrs_ltttd._io import sha256
from tfrs_ltttd.data.interactions import Interactions, split_by_time
from tfrs_ltttd.layers.features import PAD_ID
from tfrs_ltttd.settings import OPEN_SHARE, Range, check, range_of, setting

COLUMNS = ("user", "item", "timestamp", "rating", "label")
KINDS = ("categorical", "numeric", "multi")
MAX_MULTI_VALUES = 256


class TableError(ValueError):
  """A table or file that does not hold what is expected; says where."""


def _where(name: str, row, is_csv: bool) -> str:
  """`file:line N` for a CSV (header on line 1), else `table row N`."""
  if is_csv:
    return f"{name}:{int(row) + 2}"
  return f"{name} row {int(row)}"


def _plain(value):
  """A numpy scalar as the Python value (its repr names no numpy type)."""
  return value.item() if isinstance(value, np.generic) else value


def read_table(path: str | os.PathLike,
               text_columns: Sequence[str] = ()) -> pd.DataFrame:
  """Reads a CSV (`.csv`, `.tsv`, `.txt`, optionally `.gz`) or Parquet file.

  A CSV cell's text is its value: only an empty cell is missing ("NA",
  "null" or "None" are values like any other).

  Args:
    path: the file.
    text_columns: CSV columns kept as the text written (ids: "007" stays
      "007", an integer beyond int64 stays exact).

  Returns:
    The table; a CSV's header line names the columns.

  Raises:
    TableError: the file is missing, empty, of an unknown kind, or does not
      parse.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise TableError(f"{path}: file not found.")
  suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
  kind = suffixes[-1] if suffixes else ""
  if kind == ".parquet":
    try:
      import pyarrow  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    except ImportError:
      raise TableError(f"{path}: reading Parquet needs pyarrow (pip install "
                       "pyarrow).") from None
    if path.stat().st_size == 0:
      raise TableError(f"{path}: empty file.")
    try:
      return pd.read_parquet(path)
    except Exception as error:  # pylint: disable=broad-except
      raise TableError(f"{path}: not a readable Parquet file "
                       f"({' '.join(str(error).split())}).") from None
  if kind not in (".csv", ".tsv", ".txt"):
    raise TableError(f"{path}: unknown file kind '{kind or path.name}'; "
                     "expected .csv, .tsv, .txt (optionally .gz) or .parquet.")
  try:
    table = pd.read_csv(path, sep="\t" if kind == ".tsv" else ",",
                        skip_blank_lines=False, keep_default_na=False,
                        na_values=[""],
                        dtype={column: str for column in text_columns})
  except pd.errors.EmptyDataError:
    raise TableError(f"{path}: empty file; expected a header line naming "
                     "the columns.") from None
  except (pd.errors.ParserError, UnicodeDecodeError) as error:
    raise TableError(f"{path}: does not parse as CSV "
                     f"({' '.join(str(error).split())}).") from None
  # Blank lines keep their place (so row r is line r + 2) but hold no data.
  return table.dropna(how="all")


def _column(table: pd.DataFrame, column: str, role: str, name: str
            ) -> pd.Series:
  if column not in table.columns:
    raise TableError(
        f"{name}: no column '{column}' (the {role}); the columns are "
        f"{[str(c) for c in table.columns]}. Map another column with "
        f"--column {role}=NAME.")
  return table[column]


#: Integer ids as a CSV writes them: no sign but "-", no leading zero.
_INTEGER_TEXT = r"-?(?:0|[1-9][0-9]*)"
_INT64 = np.iinfo(np.int64)


def _ids(values: pd.Series, column: str, name: str, is_csv: bool,
         reserved: Optional[int] = None) -> np.ndarray:
  """The ids exactly as written: int64 where every id is an integer that
  int64 holds, else strings (an integer beyond int64, such as a uint64
  hash, stays exact as its text; "007" stays "007"). Only an empty cell is
  missing, and an error naming its line; so is an id equal to `reserved`.
  """
  text = values.astype(str)
  missing = (values.isna() | (text.str.strip() == "")).to_numpy()
  if missing.any():
    row = values.index[np.argmax(missing)]
    raise TableError(f"{_where(name, row, is_csv)}: column '{column}' is "
                     "empty; every row needs an id.")
  ids = _int64(values, text, is_csv)
  if ids is None:
    return text.to_numpy(dtype=str)
  if reserved is not None and np.any(ids == reserved):
    row = values.index[int(np.argmax(ids == reserved))]
    raise TableError(
        f"{_where(name, row, is_csv)}: {column} {reserved} is reserved: it "
        "pads history_item_ids; give the item another id (any other "
        "integer, negative ones included, or a string).")
  return ids


def _int64(values: pd.Series, text: pd.Series, is_csv: bool
           ) -> Optional[np.ndarray]:
  """The ids as int64 if every one is an integer int64 holds, else None:
  integer or whole float columns, Python ints, and a CSV's integer text."""
  dtype = values.dtype
  if pd.api.types.is_bool_dtype(dtype):
    return None
  if pd.api.types.is_integer_dtype(dtype):  # only uint64 may not fit
    return values.to_numpy(np.int64) if values.max() <= _INT64.max else None
  if pd.api.types.is_float_dtype(dtype):
    numbers = values.to_numpy(np.float64)
    fits = np.all(np.mod(numbers, 1) == 0) and np.all(np.abs(numbers) < 2**63)
    return numbers.astype(np.int64) if fits else None
  if values.map(lambda v: isinstance(v, (int, np.integer))
                  and not isinstance(v, bool)).all():
    whole = [int(v) for v in values]
  elif is_csv and text.str.fullmatch(_INTEGER_TEXT).all():
    whole = [int(v) for v in text]
  else:
    return None
  if not all(_INT64.min <= v <= _INT64.max for v in whole):
    return None
  return np.array(whole, np.int64)


def _times(values: pd.Series, column: str, name: str, is_csv: bool
           ) -> np.ndarray:
  """Timestamps as float seconds, from unix seconds, datetimes or ISO 8601
  dates and date-times (naive ones read as UTC), whatever the source; one
  form for the whole column."""
  what = ("unix seconds or an ISO 8601 date or date-time, one form in every "
          "row")
  if pd.api.types.is_datetime64_any_dtype(values.dtype):
    dates = values
  else:
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().any() or values.isna().any():
      return _numbers(values, column, name, is_csv, what)
    dates = pd.to_datetime(values.astype(str), format="ISO8601", utc=True,
                           errors="coerce")
  bad = dates.isna().to_numpy()
  if bad.any():
    row = values.index[np.argmax(bad)]
    raise TableError(f"{_where(name, row, is_csv)}: column '{column}' must "
                     f"be {what}, got {_plain(values.loc[row])!r}.")
  return _seconds(dates)


def _seconds(dates: pd.Series) -> np.ndarray:
  """Datetimes (naive ones read as UTC) as float unix seconds, whatever
  their unit."""
  epoch = pd.Timestamp(0, tz="UTC")
  return ((pd.to_datetime(dates, utc=True) - epoch)
          / pd.Timedelta(seconds=1)).to_numpy(np.float64)


def _numbers(values: pd.Series, column: str, name: str, is_csv: bool,
             what: str) -> np.ndarray:
  """Finite float64 numbers; errors name the first bad row."""
  numbers = pd.to_numeric(values, errors="coerce")
  bad = numbers.isna().to_numpy() | ~np.isfinite(
      numbers.to_numpy(np.float64, na_value=np.nan))
  if bad.any():
    row = values.index[np.argmax(bad)]
    raise TableError(f"{_where(name, row, is_csv)}: column '{column}' must "
                     f"be {what}, got {values.loc[row]!r}.")
  return numbers.to_numpy(np.float64)


def _unique_rows(ids: np.ndarray, table: pd.DataFrame, column: str,
                 name: str, is_csv: bool) -> Dict:
  rows: Dict = {}
  for position, value in enumerate(ids.tolist()):
    if value in rows:
      first, here = table.index[rows[value]], table.index[position]
      raise TableError(
          f"{_where(name, here, is_csv)}: duplicate id {value!r} in column "
          f"'{column}' (first on {_where(name, first, is_csv)}); ids must "
          "be unique.")
    rows[value] = position
  return rows


def _rows_of(ids: np.ndarray, known: Dict, column: str, name: str,
             table_name: str, index: pd.Index, is_csv: bool) -> np.ndarray:
  rows = np.fromiter((known.get(v, -1) for v in ids.tolist()), np.int64,
                     len(ids))
  unknown = rows < 0
  if unknown.any():
    first = int(np.argmax(unknown))
    raise TableError(
        f"{_where(name, index[first], is_csv)}: {column} {ids[first].item()!r} is "
        f"not in {table_name} ({int(unknown.sum())} interactions name "
        f"{len(set(ids[unknown].tolist()))} unknown ids).")
  return rows


def _guess_kind(values: pd.Series, separator: str) -> str:
  if pd.api.types.is_bool_dtype(values.dtype):
    return "categorical"
  if pd.api.types.is_float_dtype(values.dtype):
    return "numeric"
  if pd.api.types.is_integer_dtype(values.dtype):
    return "categorical"
  if pd.api.types.is_datetime64_any_dtype(values.dtype):
    return "numeric"
  text = values.dropna().astype(str)
  if separator and text.str.contains(separator, regex=False).any():
    return "multi"
  return "categorical"


def _features(table: pd.DataFrame, id_column: str, kinds: Mapping[str, str],
              separator: str, name: str, is_csv: bool,
              reserved: Sequence[str]) -> Dict[str, np.ndarray]:
  """The feature columns of a user or item table, typed for the towers."""
  out: Dict[str, np.ndarray] = {}
  for column in table.columns:
    if column == id_column:
      continue
    column = str(column)
    if column in reserved:
      raise TableError(f"{name}: column '{column}' clashes with a feature "
                       "name the package uses; rename it.")
    values = table[column]
    kind = kinds.get(column) or _guess_kind(values, separator)
    if kind == "numeric":
      if pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.Series(_seconds(values), index=values.index)
      numbers = pd.to_numeric(values, errors="coerce")
      bad = numbers.isna() & values.notna()
      if bad.any():
        row = values.index[np.argmax(bad.to_numpy())]
        raise TableError(f"{_where(name, row, is_csv)}: column '{column}' "
                         f"is numeric and must hold numbers, got "
                         f"{_plain(values.loc[row])!r}.")
      if numbers.isna().all():
        raise TableError(f"{name}: numeric column '{column}' has no value.")
      numbers = numbers.astype(np.float64)
      numbers = numbers.where(np.isfinite(numbers), np.nan)
      out[column] = numbers.fillna(numbers.median()).to_numpy(np.float32)
    elif kind == "categorical":
      if pd.api.types.is_integer_dtype(values.dtype):
        out[column] = values.to_numpy(np.int64)
      else:
        out[column] = values.fillna("").astype(str).to_numpy(dtype=str)
    elif kind == "multi":
      lists = [[] if pd.isna(v) else [p.strip() for p in str(v).split(
          separator) if p.strip()] for v in values]
      names = sorted({p for parts in lists for p in parts})
      if len(names) > MAX_MULTI_VALUES:
        raise TableError(
            f"{name}: multi-valued column '{column}' has {len(names)} "
            f"distinct values, more than {MAX_MULTI_VALUES}; declare it "
            f"categorical (--column {column}=categorical).")
      for value in names:
        out[f"{column}_{value}"] = np.array(
            [float(value in parts) for parts in lists], np.float32)
    else:
      raise TableError(f"kind of column '{column}' must be one of {KINDS}, "
                       f"got '{kind}'.")
  return out


def from_dataframes(
    interactions: pd.DataFrame,
    users: Optional[pd.DataFrame] = None,
    items: Optional[pd.DataFrame] = None,
    columns: Optional[Mapping[str, str]] = None,
    kinds: Optional[Mapping[str, str]] = None,
    separator: str = "|",
    relevant_rating: float = 4.0,
    test_fraction: float = 0.2,
    names: Optional[Mapping[str, str]] = None,
) -> Interactions:
  """Builds `Interactions` from an interactions table and feature tables.

  Args:
    interactions: one row per interaction.
    users: optional user table (the user column plus features).
    items: optional item table (the item column plus features).
    columns: role -> column name, for roles `user`, `item`, `timestamp`,
      `rating`, `label`; default the role's own name.
    kinds: feature column -> `"categorical"`, `"numeric"` or `"multi"`,
      overriding the guess.
    separator: the separator of multi-valued values.
    relevant_rating: ratings at or above it are relevant.
    test_fraction: share of each user's last interactions held out.
    names: table -> name used in error messages (`"interactions"`,
      `"users"`, `"items"`; `load` passes the file paths).

  Returns:
    The interactions, split by time; ids are the `user_id` and `item_id`
    features.

  Raises:
    TableError: naming the table, row or line and column of what is wrong.

  Example:

  >>> table = pd.DataFrame({"user": ["a", "a", "b"], "item": [1, 2, 1],
  ...                       "timestamp": [1, 2, 3]})
  >>> data = from_dataframes(table, test_fraction=0.5)
  >>> data.num_users, data.num_items, len(data.test["user"])
  (2, 2, 2)
  """
  columns = {role: role for role in COLUMNS} | dict(columns or {})
  unknown = set(columns) - set(COLUMNS)
  if unknown:
    raise TableError(f"column roles must be among {COLUMNS}, got "
                     f"{sorted(unknown)}.")
  kinds = dict(kinds or {})
  for column, kind in kinds.items():
    if kind not in KINDS:
      raise TableError(f"kind of column '{column}' must be one of {KINDS}, "
                       f"got '{kind}'.")
  for option, value in (("relevant_rating", relevant_rating),
                        ("test_fraction", test_fraction)):
    problem = range_of(TableSource, option).problem(value)
    if problem:
      raise TableError(f"{option} {problem}, got {value!r}.")
  names = {"interactions": "interactions", "users": "users",
           "items": "items"} | dict(names or {})
  csv = {key: str(value).lower().split(".gz")[0].endswith(
      (".csv", ".tsv", ".txt")) for key, value in names.items()}
  source = names["interactions"]
  if len(interactions) == 0:
    raise TableError(f"{source}: no interactions (the table has no rows).")
  user_ids = _ids(_column(interactions, columns["user"], "user", source),
                  columns["user"], source, csv["interactions"])
  item_ids = _ids(_column(interactions, columns["item"], "item", source),
                  columns["item"], source, csv["interactions"],
                  reserved=PAD_ID)
  when = _times(
      _column(interactions, columns["timestamp"], "timestamp", source),
      columns["timestamp"], source, csv["interactions"])
  if columns["label"] in interactions.columns:
    label = _numbers(interactions[columns["label"]], columns["label"], source,
                     csv["interactions"], "a number")
    if np.any(label < 0):
      row = interactions.index[int(np.argmax(label < 0))]
      raise TableError(f"{_where(source, row, csv['interactions'])}: column "
                       f"'{columns['label']}' must be >= 0 (a graded "
                       "relevance), got a negative label.")
  elif columns["rating"] in interactions.columns:
    rating = _numbers(interactions[columns["rating"]], columns["rating"],
                      source, csv["interactions"], "a number")
    label = np.where(rating >= relevant_rating,
                     rating - relevant_rating + 1.0, 0.0)
  else:
    label = np.ones(len(interactions))

  reserved = ("user_id", "item_id", "history_item_ids", "history_labels")
  tables = {}
  for key, table, ids, id_name in (("users", users, user_ids, "user_id"),
                                   ("items", items, item_ids, "item_id")):
    role = key[:-1]
    if table is None:
      distinct = np.unique(ids)
      tables[key] = ({id_name: distinct},
                     {v: r for r, v in enumerate(distinct.tolist())})
      continue
    if len(table) == 0:
      raise TableError(f"{names[key]}: no rows.")
    own = _ids(_column(table, columns[role], role, names[key]),
               columns[role], names[key], csv[key],
               reserved=PAD_ID if role == "item" else None)
    if own.dtype.kind != ids.dtype.kind:
      raise TableError(
          f"{names[key]}: column '{columns[role]}' holds "
          f"{'integers' if own.dtype.kind == 'i' else 'strings'} but the "
          f"interactions' '{columns[role]}' holds "
          f"{'integers' if ids.dtype.kind == 'i' else 'strings'}; ids must "
          "be of one kind.")
    rows = _unique_rows(own, table, columns[role], names[key], csv[key])
    features = _features(table, columns[role], kinds, separator, names[key],
                         csv[key], reserved)
    tables[key] = ({id_name: own, **features}, rows)
  user_rows = _rows_of(user_ids, tables["users"][1], columns["user"], source,
                       names["users"], interactions.index, csv["interactions"])
  item_rows = _rows_of(item_ids, tables["items"][1], columns["item"], source,
                       names["items"], interactions.index, csv["interactions"])
  users_table, items_table = tables["users"][0], tables["items"][0]
  train, test = split_by_time(user_rows, item_rows, label, when,
                              len(users_table["user_id"]), test_fraction,
                              ties=item_rows)
  return Interactions(users=users_table, items=items_table, train=train,
                      test=test)


@dataclasses.dataclass(frozen=True)
class TableSource:
  """Files of interactions and features, and how to read them.

  A checkpoint stores this (with the files' SHA-256) to read the same data
  again when the model is exported.

  Attributes:
    interactions: the interactions file (CSV or Parquet).
    users: optional user feature file.
    items: optional item feature file.
    columns: role -> column name (see `from_dataframes`).
    kinds: feature column -> kind.
    separator: separator of multi-valued values.
    relevant_rating: ratings at or above it are relevant.
    test_fraction: share of each user's last interactions held out.
  """

  interactions: str
  users: Optional[str] = None
  items: Optional[str] = None
  columns: Dict[str, str] = dataclasses.field(default_factory=dict)
  kinds: Dict[str, str] = dataclasses.field(default_factory=dict)
  separator: str = "|"
  relevant_rating: float = setting(4.0, Range())
  test_fraction: float = setting(0.2, OPEN_SHARE)

  def __post_init__(self):
    check(self)

  def files(self) -> Dict[str, str]:
    return {k: v for k, v in (("interactions", self.interactions),
                              ("users", self.users), ("items", self.items))
            if v is not None}

  def fingerprints(self) -> Dict[str, str]:
    """SHA-256 of each file, to notice a file changed since training."""
    return {key: sha256(path) for key, path in self.files().items()}

  def load(self) -> Interactions:
    """Reads the files into `Interactions` (see `from_dataframes`)."""
    columns = {**dict(zip(COLUMNS, COLUMNS)), **self.columns}
    # Codes are read as written: a categorical column of integers with
    # empty cells stays "7", not the float 7.0.
    codes = tuple(c for c, kind in self.kinds.items() if kind != "numeric")
    ids = {"interactions": (columns["user"], columns["item"]),
           "users": (columns["user"],) + codes,
           "items": (columns["item"],) + codes}
    tables = {key: read_table(path, ids[key])
              for key, path in self.files().items()}
    return from_dataframes(
        tables["interactions"], tables.get("users"), tables.get("items"),
        columns=self.columns, kinds=self.kinds, separator=self.separator,
        relevant_rating=self.relevant_rating,
        test_fraction=self.test_fraction, names=self.files())


def load(interactions: str | os.PathLike,
         users: Optional[str | os.PathLike] = None,
         items: Optional[str | os.PathLike] = None,
         **options) -> Interactions:
  """Reads interaction and feature files into `Interactions`.

  Args:
    interactions: the interactions file (CSV or Parquet).
    users: optional user feature file.
    items: optional item feature file.
    **options: `TableSource` fields (`columns`, `kinds`, `separator`,
      `relevant_rating`, `test_fraction`).

  Returns:
    The interactions.

  Raises:
    TableError: naming the file, line and column of what is wrong.
  """
  return TableSource(
      str(interactions), None if users is None else str(users),
      None if items is None else str(items), **options).load()
