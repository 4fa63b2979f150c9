"""Training checkpoints: weights plus the configs that rebuild the model.

A checkpoint folder holds `weights.*` (a TensorFlow checkpoint) and
`ltttd_config.json`: the model config, the data (the synthetic generator's
config, or the files of a `tables.TableSource` with their SHA-256, read again
at load), the data's fingerprint (`Interactions.fingerprint`: sizes and a
hash of ids, features and interactions) and the SHA-256 of every weights
file. `load` checks all of them before it reads a weight: a missing,
truncated, damaged or swapped weights file, changed data files, or data that
no longer rebuilds the same ids each end in one line naming the checkpoint
and what differs. The folder is written to a temporary path and renamed into
place, so a failed save never leaves a half-written checkpoint, and an
existing one is never replaced.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Tuple, Union

import numpy as np
import tensorflow as tf

from tfrs_ltttd._io import atomic_path, sha256
from tfrs_ltttd.data import synthetic, tables
from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.data.interactions import Interactions
from tfrs_ltttd.models.config import ModelConfig

CONFIG_FILE = "ltttd_config.json"
WEIGHTS = "weights"


DataSource = Union[synthetic.SyntheticConfig, tables.TableSource]


def save(model, data_config: DataSource, model_config: ModelConfig,
         path: str | os.PathLike, *, data: Interactions) -> pathlib.Path:
  """Saves `model`'s weights and configs to the new folder `path`.

  Args:
    model: the trained `LTTTDModel`.
    data_config: where its data came from: the synthetic generator's config
      or the files it was read from.
    model_config: its `ModelConfig`.
    path: a folder that does not exist yet.
    data: the data it was trained on (its fingerprint is recorded).

  Returns:
    The checkpoint folder.
  """
  path = pathlib.Path(path)
  if path.exists():
    raise ValueError(f"checkpoint folder {path} exists already; choose a new "
                     "one (checkpoints are never overwritten).")
  with atomic_path(path, folder=True) as tmp:
    tmp.mkdir()
    model.save_weights(str(tmp / WEIGHTS))
    record = {"data": dataclasses.asdict(data_config),
              "model": dataclasses.asdict(model_config),
              "data_fingerprint": data.fingerprint(),
              "weights": {f.name: sha256(f) for f in sorted(tmp.iterdir())}}
    if isinstance(data_config, tables.TableSource):
      record["data_kind"] = "tables"
      record["fingerprints"] = data_config.fingerprints()
    (tmp / CONFIG_FILE).write_text(json.dumps(record, indent=2))
  return path


def load(path: str | os.PathLike) -> Tuple[object, object]:
  """Rebuilds the model of a checkpoint and its data; returns both."""
  from tfrs_ltttd.models.ltttd import LTTTDModel  # pylint: disable=g-import-not-at-top

  path = pathlib.Path(path)
  config_file = path / CONFIG_FILE
  if not config_file.is_file():
    raise ValueError(f"{path} is not an ltttd checkpoint: {CONFIG_FILE} is "
                     "missing (write one with `ltttd train --output DIR`).")
  try:
    configs = json.loads(config_file.read_text())
    kind = configs.get("data_kind", "synthetic")
    source = (tables.TableSource(**configs["data"]) if kind == "tables" else
              synthetic.SyntheticConfig(**configs["data"]))
    # A checkpoint written before history matches existed has none.
    model_config = ModelConfig(**{
        "history_matches": False, **configs["model"],
        "hidden_units": tuple(configs["model"]["hidden_units"])})
  except (KeyError, TypeError, ValueError) as error:
    raise ValueError(f"{config_file}: not a valid checkpoint config "
                     f"({error})") from None
  _check_weights(path, configs.get("weights"))
  if isinstance(source, tables.TableSource):
    for key, path_ in source.files().items():
      if not os.path.isfile(path_):
        raise ValueError(f"{config_file}: the {key} file {path_} it was "
                         "trained on is gone.")
    changed = [key for key, digest in source.fingerprints().items()
               if configs.get("fingerprints", {}).get(key) != digest]
    if changed:
      raise ValueError(
          f"{config_file}: the {', '.join(changed)} file(s) changed since "
          "training (SHA-256 differs); the ids and vocabularies would not "
          "match. Train again on the new files.")
    data = source.load()
  else:
    data = synthetic.generate(source)
  _check_data(path, configs.get("data_fingerprint"), data.fingerprint())
  model = LTTTDModel.from_data(data, model_config)
  probe = {"query": serving_query(data, np.arange(1),
                                  model_config.history_length),
           "candidates": {k: v[:1][None] for k, v in data.items.items()}}
  model(tf.nest.map_structure(tf.constant, probe))  # create the variables
  try:
    model.load_weights(str(path / WEIGHTS)).expect_partial()
  except (tf.errors.OpError, ValueError, AssertionError) as error:
    reason = " ".join(str(getattr(error, "message", error)).split())[:300]
    raise ValueError(f"{path / WEIGHTS}: the weights do not fit the model "
                     f"its config builds ({reason}).") from None
  return model, data


def _check_weights(path: pathlib.Path, saved) -> None:
  """Every weights file the config lists, present and unchanged."""
  if saved is None:
    return  # written before checkpoints recorded their files
  for name, digest in sorted(saved.items()):
    file = path / name
    if not file.is_file():
      raise ValueError(f"{file}: missing; the checkpoint is incomplete.")
    if sha256(file) != digest:
      raise ValueError(f"{file}: damaged or from another checkpoint (its "
                       f"SHA-256 differs from the one {CONFIG_FILE} "
                       "recorded).")


def _check_data(path: pathlib.Path, saved, now) -> None:
  """The data read again is the data the checkpoint was trained on."""
  if saved is None or saved == now:
    return
  differs = [f"{key} {saved.get(key)} -> {now.get(key)}"
             for key in ("users", "items", "train", "test")
             if saved.get(key) != now.get(key)] or [
                 "same sizes, other ids, features or interactions"]
  raise ValueError(f"{path}: the data read for this checkpoint is not the "
                   f"data it was trained on ({'; '.join(differs)}).")
