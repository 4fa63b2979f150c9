"""Damaged or mismatched checkpoints and backups end in one line naming the
file or folder (or, for a backup, fall back to the previous intact state),
never in a traceback or a model that serves wrong answers."""

import dataclasses
import json
import logging
import shutil

import numpy as np
import pytest

from tfrs_ltttd import LTTTDModel, ModelConfig, TrainConfig, cli, training
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.training import TrainingBackup, checkpoint
from tfrs_ltttd.training.loop import run_fingerprint

MODEL = ModelConfig(output_dim=8, embedding_dim=8, hidden_units=(8,),
                    num_layers=1, num_heads=2, width=8, history_length=3)
TRAIN = TrainConfig(epochs=1, batch_size=64, list_batch_size=32, list_size=8,
                    num_positives=2, num_in_batch_negatives=2,
                    num_hard_negatives=2, hard_negative_depth=20,
                    hard_negative_skip=2)


def _trained(seed):
  config = synthetic.SyntheticConfig(num_users=80, num_items=60,
                                     interactions_per_user=8, seed=seed)
  data = synthetic.generate(config)
  model = LTTTDModel.from_data(data, MODEL)
  training.fit(model, data, TRAIN, verbose=0)
  return model, data, config


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
  """Two checkpoints of equal table sizes from two data sets."""
  folder = tmp_path_factory.mktemp("checkpoints")
  out = {}
  for name, seed in (("a", 1), ("b", 2)):
    model, data, config = _trained(seed)
    out[name] = checkpoint.save(model, config, MODEL, folder / name,
                                data=data)
  return out


def _copy(checkpoints, tmp_path, name="a"):
  target = tmp_path / name
  shutil.copytree(checkpoints[name], target)
  return target


def _data_file(path):
  return next(path.glob("weights.data-*"))


def _truncate(path):
  file = _data_file(path)
  file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
  return file


def _empty_index(path):
  file = path / "weights.index"
  file.write_bytes(b"")
  return file


def _flip_a_bit(path):
  file = _data_file(path)
  data = bytearray(file.read_bytes())
  data[len(data) // 2] ^= 0x10
  file.write_bytes(bytes(data))
  return file


def _remove_index(path):
  file = path / "weights.index"
  file.unlink()
  return file


def _truncate_config(path):
  file = path / checkpoint.CONFIG_FILE
  file.write_text(file.read_text()[:100])
  return file


@pytest.mark.parametrize("damage, message", [
    (_truncate_config, "not a valid checkpoint config"),
    (_truncate, "damaged or from another checkpoint"),
    (_empty_index, "damaged or from another checkpoint"),
    (_flip_a_bit, "damaged or from another checkpoint"),
    (_remove_index, "missing; the checkpoint is incomplete"),
])
def test_a_damaged_checkpoint_is_named_in_one_line(damage, message,
                                                   checkpoints, tmp_path,
                                                   capsys):
  path = _copy(checkpoints, tmp_path)
  file = damage(path)
  with pytest.raises(ValueError) as info:
    checkpoint.load(path)
  assert str(info.value).startswith(f"{file}: {message}")
  out = tmp_path / "models"
  before = {p.name: p.read_bytes() for p in path.iterdir()}
  assert cli.main(["export", "--checkpoint", str(path), "--output",
                   str(out)]) == 2
  err = capsys.readouterr().err
  assert f"{file}: {message}" in err and len(err.strip().splitlines()) == 1
  assert not out.exists() or not any(out.rglob("saved_model.pb"))
  assert {p.name: p.read_bytes() for p in path.iterdir()} == before


def test_weights_from_another_checkpoint_are_refused(checkpoints, tmp_path):
  path = _copy(checkpoints, tmp_path)
  for file in checkpoints["b"].glob("weights.*"):
    shutil.copy(file, path / file.name)  # same table sizes, other data
  with pytest.raises(ValueError, match="damaged or from another checkpoint"):
    checkpoint.load(path)


def test_a_config_naming_other_data_is_refused(checkpoints, tmp_path):
  path = _copy(checkpoints, tmp_path)
  config = path / checkpoint.CONFIG_FILE
  config.write_text(config.read_text().replace('"seed": 1', '"seed": 2'))
  worlds = [synthetic.generate(synthetic.SyntheticConfig(
      num_users=80, num_items=60, interactions_per_user=8, seed=seed))
           for seed in (1, 2)]
  change = "; ".join(
      f"{split} {len(getattr(worlds[0], split)['user'])} -> "
      f"{len(getattr(worlds[1], split)['user'])}"
      for split in ("train", "test"))
  assert worlds[0].fingerprint() != worlds[1].fingerprint()
  with pytest.raises(ValueError, match=(
      "the data read for this checkpoint is not the data it was trained on "
      rf"\({change}\)")):
    checkpoint.load(path)


def test_an_intact_checkpoint_still_loads(checkpoints):
  model, data = checkpoint.load(checkpoints["a"])
  assert data.num_items == 60 and model.item_tower.weights
  assert model.history_matches is not None


def test_a_checkpoint_from_before_history_matches_loads_without(tmp_path):
  config = synthetic.SyntheticConfig(num_users=30, num_items=40,
                                     interactions_per_user=6, seed=3)
  data = synthetic.generate(config)
  without = dataclasses.replace(MODEL, history_matches=False)
  model = LTTTDModel.from_data(data, without)
  training.fit(model, data, TRAIN, verbose=0)  # one epoch
  path = checkpoint.save(model, config, without, tmp_path / "old", data=data)
  file = path / checkpoint.CONFIG_FILE
  saved = json.loads(file.read_text())
  del saved["model"]["history_matches"]  # as written before it existed
  file.write_text(json.dumps(saved))
  loaded, _ = checkpoint.load(path)
  assert loaded.history_matches is None
  for a, b in zip(model.transformer.weights, loaded.transformer.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def _backup(model, data, directory, train=TRAIN):
  return TrainingBackup(directory, model,
                        fingerprint=run_fingerprint(model, data, train))


def test_a_damaged_latest_backup_falls_back_to_the_previous(tmp_path,
                                                            caplog):
  model, data, _ = _trained(1)
  backup = _backup(model, data, tmp_path / "backup")
  backup.save(0, 3)
  first = [w.numpy() for w in model.weights]
  for w in model.trainable_weights:
    w.assign(w + 1.0)
  backup.save(0, 4)
  _truncate_state(backup)
  again = _backup(model, data, tmp_path / "backup")
  with caplog.at_level(logging.WARNING):
    assert again.restore() == (0, 3)
  assert len(caplog.records) == 1
  assert "is damaged" in caplog.text and "resuming from the previous" in (
      caplog.text)
  for want, got in zip(first, model.weights):
    np.testing.assert_array_equal(got.numpy(), want)


def _truncate_state(backup):
  latest = backup._manager.latest_checkpoint  # pylint: disable=protected-access
  data_file = next(
      p for p in backup.directory.joinpath("state").iterdir()
      if p.name.startswith(latest.rsplit("/", 1)[1] + ".data"))
  data_file.write_bytes(data_file.read_bytes()[:10])


def test_no_intact_backup_is_one_clear_error(tmp_path):
  model, data, _ = _trained(1)
  backup = _backup(model, data, tmp_path / "backup")
  backup.save(0, 1)
  _truncate_state(backup)
  with pytest.raises(ValueError, match="no intact backup to resume from"):
    _backup(model, data, tmp_path / "backup").restore()


@pytest.mark.parametrize("change, differs", [
    (lambda data, train: (data, dataclasses.replace(train, epochs=2)),
     "train_config"),
    (lambda data, train: (synthetic.generate(synthetic.SyntheticConfig(
        num_users=80, num_items=60, interactions_per_user=8, seed=2)),
                          train), "data"),
])
def test_a_backup_of_another_run_is_refused(change, differs, tmp_path):
  model, data, _ = _trained(1)
  _backup(model, data, tmp_path / "backup").save(0, 1)
  other_data, other_train = change(data, TRAIN)
  with pytest.raises(ValueError, match=(
      rf"the backup is of another run \(its {differs} differ\)")):
    _backup(model, other_data, tmp_path / "backup", other_train).restore()
  # Through fit: refused before any step.
  with pytest.raises(ValueError, match="the backup is of another run"):
    training.fit(model, other_data, other_train, verbose=0,
                 backup_dir=str(tmp_path / "backup"))


def test_a_damaged_hard_negative_file_is_computed_again(tmp_path, caplog):
  model, data, _ = _trained(1)
  backup = _backup(model, data, tmp_path / "backup")
  value = backup.hard_candidates(1, lambda: np.arange(6).reshape(2, 3))
  path = tmp_path / "backup" / "hard_candidates_epoch1.npy"
  path.write_bytes(path.read_bytes()[:20])
  with caplog.at_level(logging.WARNING):
    again = backup.hard_candidates(1, lambda: np.arange(6).reshape(2, 3))
  np.testing.assert_array_equal(again, value)
  assert "is damaged" in caplog.text
