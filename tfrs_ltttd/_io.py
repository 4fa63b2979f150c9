"""Files and folders: written all or nothing, and known by their hash.

What is written goes to a hidden temporary path beside the target and is
renamed into place only when complete, so a failed or killed write never
leaves a half-written file under the target's name, and never damages what
was there before. `sha256` names a file's content, so that a reader can tell
a damaged or swapped file from the one that was written.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pathlib
import shutil
import uuid
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike,
                folder: bool = False) -> Iterator[pathlib.Path]:
  """Yields a temporary path to write `path`'s content to, then renames it.

  The temporary path sits in the same folder (so the rename is atomic), is
  hidden and keeps the target's suffix (for writers that choose a format by
  it). On an exception it is removed and the target left as it was; what a
  killed process left behind for the same target is removed first.

  Args:
    path: the file or folder to write; its parent folders are created.
    folder: the content is a folder (which the writer creates; renamed with
      `os.rename`, which does not replace a non-empty folder); otherwise a
      file, which replaces an existing file.

  Yields:
    The temporary path.

  Example:

  >>> import tempfile
  >>> target = pathlib.Path(tempfile.mkdtemp()) / "scores.txt"
  >>> with atomic_path(target) as tmp:
  ...   _ = tmp.write_text("0.5")
  >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
  ('0.5', ['scores.txt'])
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  prefix = f".{path.stem}.tmp-"
  for stale in path.parent.glob(glob.escape(prefix) + "*" + glob.escape(
      path.suffix)):
    _remove(stale)
  tmp = path.parent / f"{prefix}{uuid.uuid4().hex}{path.suffix}"
  try:
    yield tmp
    (os.rename if folder else os.replace)(tmp, path)
  except BaseException:
    _remove(tmp)
    raise


def _remove(path: pathlib.Path) -> None:
  if path.is_dir():
    shutil.rmtree(path, ignore_errors=True)
  elif path.exists():
    path.unlink()


def sha256(path: str | os.PathLike) -> str:
  """The SHA-256 of a file's bytes, as hex."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()
