"""The data named on the `ltttd` command line: the synthetic generator's
config or your own tables, read and described in one line."""

from __future__ import annotations

import argparse
import os

from tfrs_ltttd.data import amazon, movielens, synthetic, tables

NAMED = ("movielens-100k", "movielens-1m", "movielens-latest-small",
         "amazon-beauty")


def data_source(args: argparse.Namespace):
  """The data named on the command line: a `TableSource` for
  `--interactions`, else the synthetic generator's config."""

  if getattr(args, "interactions", None):
    columns, kinds = {}, {}
    for spec in args.column or []:
      key, sep, value = spec.partition("=")
      if not sep or not key or not value:
        raise ValueError(f"--column {spec!r}: expected ROLE=COLUMN (roles "
                         f"{', '.join(tables.COLUMNS)}) or COLUMN=KIND "
                         f"(kinds {', '.join(tables.KINDS)}).")
      if value in tables.KINDS:
        kinds[key] = value
      elif key in tables.COLUMNS:
        columns[key] = value
      else:
        raise ValueError(f"--column {spec!r}: '{key}' is not a role "
                         f"({', '.join(tables.COLUMNS)}) and '{value}' not a "
                         f"kind ({', '.join(tables.KINDS)}).")
    return tables.TableSource(
        interactions=os.path.abspath(args.interactions),
        users=args.users and os.path.abspath(args.users),
        items=args.items and os.path.abspath(args.items),
        columns=columns, kinds=kinds, separator=args.separator,
        relevant_rating=args.relevant_rating)
  if getattr(args, "users", None) or getattr(args, "items", None):
    raise ValueError("--users and --items describe the --interactions "
                     "file; give --interactions too.")
  return synthetic.SyntheticConfig(num_users=args.num_users,
                                   num_items=args.num_items,
                                   seed=getattr(args, "seed", 0))


def load(source):
  """Reads or generates the data of `data_source` and says what it is."""

  if isinstance(source, synthetic.SyntheticConfig):
    data, what = synthetic.generate(source), "Synthetic data"
  else:
    data, what = source.load(), source.interactions
  return describe(what, data)


def describe(what: str, data):
  """Prints the size of `data` and returns it."""
  print(f"{what}: {data.num_users} users, {data.num_items} items, "
        f"{len(data.train['user'])} train / {len(data.test['user'])} test "
        "interactions.")
  return data


def named(name: str, path: str | None = None):
  """Reads the data set `name` of `NAMED` from folder `path`, by default the
  one its reader finds (MovieLens 100K and Amazon Beauty only)."""
  reader = amazon if name == "amazon-beauty" else movielens
  if path is None and name in ("movielens-100k", "amazon-beauty"):
    path = reader.default_path()
  if path is None:
    raise ValueError(f"--path is required for --data {name}: the folder "
                     "holding its files (nothing is downloaded).")
  if reader is amazon:
    return amazon.load(path)
  return movielens.load(path, name.split("-", 1)[1])
