import pytest

from tfrs_ltttd._io import atomic_path


def _names(folder):
  return sorted(p.name for p in folder.iterdir())


def test_a_file_replaces_the_old_one_only_when_complete(tmp_path):
  target = tmp_path / "deep" / "report.json"
  with atomic_path(target) as tmp:
    assert tmp.parent == target.parent and tmp.suffix == ".json"
    assert tmp.name.startswith(".")
    tmp.write_text("first")
    assert not target.exists()  # nothing under the name before the rename
  assert target.read_text() == "first"
  with atomic_path(target) as tmp:
    tmp.write_text("second")
  assert target.read_text() == "second"
  assert _names(target.parent) == ["report.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
  target = tmp_path / "weights.npy"
  target.write_text("intact")
  with pytest.raises(RuntimeError, match="killed"):
    with atomic_path(target) as tmp:
      tmp.write_text("half")
      raise RuntimeError("killed")
  assert target.read_text() == "intact"
  assert _names(tmp_path) == ["weights.npy"]


def test_a_folder_is_renamed_whole_and_removed_on_failure(tmp_path):
  target = tmp_path / "ckpt"
  with pytest.raises(ValueError):
    with atomic_path(target, folder=True) as tmp:
      tmp.mkdir()
      (tmp / "part").write_text("x")
      raise ValueError("save failed")
  assert _names(tmp_path) == []
  with atomic_path(target, folder=True) as tmp:
    assert not tmp.exists()  # the writer creates it
    tmp.mkdir()
    (tmp / "weights").write_text("w")
  assert _names(target) == ["weights"]


def test_a_folder_never_replaces_a_full_one(tmp_path):
  target = tmp_path / "1"
  target.mkdir()
  (target / "saved_model.pb").write_text("old")
  with pytest.raises(OSError):
    with atomic_path(target, folder=True) as tmp:
      tmp.mkdir()
      (tmp / "saved_model.pb").write_text("new")
  assert (target / "saved_model.pb").read_text() == "old"
  assert _names(tmp_path) == ["1"]


def test_what_a_killed_write_left_is_removed_next_time(tmp_path):
  target = tmp_path / "report.json"
  stale = tmp_path / ".report.tmp-deadbeef.json"
  stale.write_text("half")
  other = tmp_path / ".other.tmp-deadbeef.json"  # another target's: kept
  other.write_text("half")
  with atomic_path(target) as tmp:
    tmp.write_text("whole")
  assert _names(tmp_path) == [".other.tmp-deadbeef.json", "report.json"]
