"""Amazon review samples already on disk (no download): Amazon Beauty.

The layout is two CSV files in one folder, read by `tfrs_ltttd.data.tables`:

- `interactions.csv`: `user,item,timestamp` (integer ids, unix seconds). The
  feedback is implicit: every review is a positive with label 1.
- `items.csv`: `item,categories,brand`. `categories` holds the `|`-joined
  ids of the item's category path (a multi-valued feature: one 0/1 feature
  per category); `brand` one id, empty when unknown. Both are codes, never
  quantities, and are declared so (an integer column with empty cells would
  otherwise read as numbers).

The same files are read with `ltttd ... --interactions interactions.csv
--items items.csv --column categories=multi --column brand=categorical`.
"""

from __future__ import annotations

import os
import pathlib
from typing import Optional

from tfrs_ltttd.data.folders import find_folder
from tfrs_ltttd.data.interactions import Interactions
from tfrs_ltttd.data.tables import TableSource

DATA_ENV = "TFRS_LTTTD_AMAZON_BEAUTY"
KINDS = {"categories": "multi", "brand": "categorical"}


def source(path: str | os.PathLike) -> TableSource:
  """The `TableSource` of the Amazon Beauty files in folder `path`.

  Raises:
    FileNotFoundError: naming the file missing from `path`.
  """
  folder = pathlib.Path(path).resolve()
  for name in ("interactions.csv", "items.csv"):
    if not (folder / name).is_file():
      raise FileNotFoundError(f"{folder}: no {name}; expected the Amazon "
                              "Beauty files interactions.csv and items.csv.")
  return TableSource(interactions=str(folder / "interactions.csv"),
                     items=str(folder / "items.csv"), kinds=dict(KINDS))


def load(path: str | os.PathLike) -> Interactions:
  """Reads Amazon Beauty from folder `path`; each user's latest 20 % of
  interactions by time are the test split.

  Example:

  >>> data = load(default_path())  # doctest: +SKIP
  >>> data.num_users, data.num_items  # doctest: +SKIP
  (10000, 11915)
  """
  return source(path).load()


def default_path() -> Optional[pathlib.Path]:
  """Amazon Beauty from `$TFRS_LTTTD_AMAZON_BEAUTY`, else
  `../shared/data/amazon-beauty` beside the project, if present."""
  return find_folder(DATA_ENV, "amazon-beauty", "interactions.csv")
