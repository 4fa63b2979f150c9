"""The one way the package writes a file or a folder: all or nothing.

What is written goes to a hidden temporary path beside the target and is
renamed into place only when complete, so a failed or killed write never
leaves a half-written file under the target's name, and never damages what
was there before.
"""

from __future__ import annotations

import contextlib
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
  it). On an exception it is removed and the target left as it was.

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
  tmp = path.parent / f".{path.stem}.tmp-{uuid.uuid4().hex}{path.suffix}"
  try:
    yield tmp
    (os.rename if folder else os.replace)(tmp, path)
  except BaseException:
    if tmp.is_dir():
      shutil.rmtree(tmp, ignore_errors=True)
    elif tmp.exists():
      tmp.unlink()
    raise
