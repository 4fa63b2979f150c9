"""Where a public data set's files are found on disk (nothing is downloaded)."""

from __future__ import annotations

import os
import pathlib
from typing import Optional


def find_folder(env_var: str, name: str, marker: str) -> Optional[pathlib.Path]:
  """The folder named by `$env_var`, else `../shared/data/<name>` beside the
  project, whichever holds the file `marker`; None if neither does."""
  candidates = [os.environ.get(env_var)] + [
      str(pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" /
          name)]
  for candidate in candidates:
    if candidate and (pathlib.Path(candidate) / marker).is_file():
      return pathlib.Path(candidate)
  return None
