"""Readers for MovieLens files already on disk (no download).

Supported layouts:

- `ml-100k`: `u.data` (tab-separated user, item, rating, timestamp), `u.item`
  (`|`-separated; title, release date and 19 genre flags), `u.user` (age,
  gender, occupation).
- `ml-1m`: `ratings.dat`, `movies.dat` (`Title (Year)`, `Genre|Genre`),
  `users.dat` (gender, age group, occupation code), all `::`-separated.
- `ml-latest-small`: `ratings.csv`, `movies.csv` (no user features).

Ratings >= 4 are relevant, with graded labels `rating - 3` (4 -> 1, 5 -> 2);
lower ratings stay in train with label 0 (seen, so excluded from retrieval at
evaluation, but never a positive). Each user's last `test_fraction` of
interactions by time are held out. User features: `user_id` and, where the
files have them, `user_age` (float), `user_gender`, `user_occupation`. Item
features: `item_id`, `item_year` (float; the median where unknown) and one
0/1 float feature per genre (`genre_<name>`).
"""

from __future__ import annotations

import csv
import os
import pathlib
import re
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from tfrs_ltttd.data.folders import find_folder
from tfrs_ltttd.data.interactions import Interactions, split_by_time

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children", "Comedy",
    "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
    "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
DATA_ENV = "TFRS_LTTTD_MOVIELENS_100K"


class MalformedFileError(ValueError):
  """A data file line that does not parse; names the file and line."""


def _lines(path: pathlib.Path, sep: str, fields: int,
           encoding: str = "latin-1") -> Iterator[Tuple[int, List[str]]]:
  if not path.is_file():
    raise FileNotFoundError(f"{path}: file not found (MovieLens files are "
                            "read from disk, never downloaded).")
  with open(path, encoding=encoding, newline="") as f:
    for number, line in enumerate(f, 1):
      line = line.rstrip("\r\n")
      if not line:
        continue
      parts = line.split(sep)
      if len(parts) < fields:
        raise MalformedFileError(
            f"{path}:{number}: expected {fields} '{sep}'-separated fields, "
            f"got {len(parts)}: {line[:80]!r}")
      yield number, parts


def _parse(path, number, value, field, cast=int):
  """`cast(value)`, or an error naming the file, line and field."""
  try:
    return cast(value)
  except ValueError:
    kind = "an integer" if cast is int else "a number"
    raise MalformedFileError(f"{path}:{number}: {field} must be {kind}, "
                             f"got {value!r}.") from None


def _ratings(path, sep, header=False):
  rows = []
  for number, parts in _lines(path, sep, 4, encoding="utf-8"):
    if header and number == 1:
      continue
    rows.append((_parse(path, number, parts[0], "user id"),
                 _parse(path, number, parts[1], "item id"),
                 _parse(path, number, parts[2], "rating", float),
                 _parse(path, number, parts[3].split(".")[0], "timestamp")))
  if not rows:
    raise MalformedFileError(f"{path}: no ratings.")
  return np.array(rows, dtype=np.float64)


def _year(text: str) -> float:
  match = re.search(r"\((\d{4})\)\s*$", text.strip()) or re.search(
      r"(\d{4})", text)
  return float(match.group(1)) if match else float("nan")


def load(path: str | os.PathLike, variant: Optional[str] = None,
         test_fraction: float = 0.2) -> Interactions:
  """Reads a MovieLens folder into `Interactions`.

  Args:
    path: the folder holding the files.
    variant: `"100k"`, `"1m"` or `"latest-small"`; guessed from the files
      present when None.
    test_fraction: share of each user's last interactions held out.

  Returns:
    The interactions, with user and item features.

  Raises:
    FileNotFoundError: when a required file is missing.
    MalformedFileError: naming the file and line of a line that does not
      parse.
  """
  path = pathlib.Path(path)
  if not path.is_dir():
    raise FileNotFoundError(f"{path}: no such folder (the MovieLens files "
                            "are read from disk, never downloaded).")
  if variant is None:
    variant = ("100k" if (path / "u.data").exists() else
               "1m" if (path / "ratings.dat").exists() else
               "latest-small" if (path / "ratings.csv").exists() else None)
    if variant is None:
      raise FileNotFoundError(
          f"{path}: no MovieLens files (u.data, ratings.dat or ratings.csv).")
  if variant == "100k":
    ratings = _ratings(path / "u.data", "\t")
    items = _items_100k(path / "u.item")
    users = _users_100k(path / "u.user")
  elif variant == "1m":
    ratings = _ratings(path / "ratings.dat", "::")
    items = _items_pipe_genres(path / "movies.dat", "::")
    users = _users_1m(path / "users.dat")
  elif variant == "latest-small":
    ratings = _ratings(path / "ratings.csv", ",", header=True)
    items = _items_pipe_genres(path / "movies.csv", ",", csv_file=True)
    users = {"user_id": np.unique(ratings[:, 0]).astype(np.int64)}
  else:
    raise ValueError(f"variant must be '100k', '1m' or 'latest-small', got "
                     f"'{variant}'.")
  return _assemble(ratings, users, items, test_fraction)


def _items_100k(path):
  ids, years, genres = [], [], []
  for number, parts in _lines(path, "|", 5 + len(ML100K_GENRES)):
    ids.append(_parse(path, number, parts[0], "item id"))
    years.append(_year(parts[2]) if parts[2] else _year(parts[1]))
    flags = parts[-len(ML100K_GENRES):]
    if any(f not in ("0", "1") for f in flags):
      raise MalformedFileError(f"{path}:{number}: genre flags must be 0 or 1.")
    genres.append([float(f) for f in flags])
  table = {"item_id": np.array(ids, np.int64), "item_year": np.array(years)}
  genres = np.array(genres, np.float32)
  for j, name in enumerate(ML100K_GENRES):
    table[f"genre_{name}"] = genres[:, j]
  return table


def _items_pipe_genres(path, sep, csv_file=False):
  ids, years, genre_lists = [], [], []
  if csv_file:
    if not path.is_file():
      raise FileNotFoundError(f"{path}: file not found.")
    with open(path, encoding="utf-8", newline="") as f:
      rows = list(enumerate(csv.reader(f), 1))[1:]
  else:
    rows = list(_lines(path, sep, 3))
  for number, parts in rows:
    if len(parts) < 3:
      raise MalformedFileError(f"{path}:{number}: expected 3 fields, got "
                               f"{len(parts)}.")
    ids.append(_parse(path, number, parts[0], "item id"))
    years.append(_year(parts[1]))
    genre_lists.append(parts[2].split("|"))
  names = sorted({g for gs in genre_lists for g in gs})
  table = {"item_id": np.array(ids, np.int64), "item_year": np.array(years)}
  for name in names:
    table[f"genre_{name}"] = np.array([float(name in gs) for gs in genre_lists],
                                      np.float32)
  return table


def _users_100k(path):
  table: Dict[str, list] = {"user_id": [], "user_age": [], "user_gender": [],
                            "user_occupation": []}
  for number, parts in _lines(path, "|", 4):
    table["user_id"].append(_parse(path, number, parts[0], "user id"))
    table["user_age"].append(_parse(path, number, parts[1], "age", float))
    table["user_gender"].append(parts[2])
    table["user_occupation"].append(parts[3])
  return {k: np.array(v) for k, v in table.items()}


def _users_1m(path):
  table: Dict[str, list] = {"user_id": [], "user_age": [], "user_gender": [],
                            "user_occupation": []}
  for number, parts in _lines(path, "::", 4):
    table["user_id"].append(_parse(path, number, parts[0], "user id"))
    table["user_gender"].append(parts[1])
    table["user_age"].append(_parse(path, number, parts[2], "age", float))
    table["user_occupation"].append(f"occupation_{parts[3]}")
  return {k: np.array(v) for k, v in table.items()}


def _assemble(ratings, users, items, test_fraction) -> Interactions:
  if not 0.0 < test_fraction < 1.0:
    raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
  users = {k: (v.astype(np.float32) if k == "user_age" else v)
           for k, v in users.items()}
  users["user_id"] = users["user_id"].astype(np.int64)
  year = items["item_year"]
  items["item_year"] = np.where(np.isnan(year), np.nanmedian(year),
                                year).astype(np.float32)
  user_row = {int(u): r for r, u in enumerate(users["user_id"])}
  item_row = {int(i): r for r, i in enumerate(items["item_id"])}
  u = np.array([user_row.get(int(x), -1) for x in ratings[:, 0]])
  i = np.array([item_row.get(int(x), -1) for x in ratings[:, 1]])
  if np.any(u < 0) or np.any(i < 0):
    raise MalformedFileError(
        f"{int(np.sum(u < 0))} ratings name unknown users and "
        f"{int(np.sum(i < 0))} unknown items.")
  label = np.where(ratings[:, 2] >= 4, ratings[:, 2] - 3, 0.0)
  train, test = split_by_time(u, i, label, ratings[:, 3].astype(np.int64),
                              len(user_row), test_fraction,
                              ties=ratings[:, 1])
  return Interactions(users=users, items=items, train=train, test=test)


def default_path() -> Optional[pathlib.Path]:
  """MovieLens 100K from `$TFRS_LTTTD_MOVIELENS_100K`, else `../shared/data`
  beside the project, if present."""
  return find_folder(DATA_ENV, "ml-100k", "u.data")
