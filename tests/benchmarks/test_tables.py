"""README's benchmark tables are the committed JSON results, rendered."""

import json
import shutil

import pytest

from benchmarks import common, tables


def test_readme_tables_match_the_committed_results():
  block = tables.readme_block(tables.README.read_text())
  assert block == tables.markdown(common.RESULTS), (
      "README.md's benchmark tables differ from benchmarks/results/*.json: "
      "run python -m benchmarks.tables --write")


def test_tables_follow_the_json(tmp_path):
  for name in ("retrieval", "serving", "training"):
    shutil.copy(common.RESULTS / f"{name}.json", tmp_path)
  serving = json.loads((tmp_path / "serving.json").read_text())
  serving["p50_ms"] = 123.456
  (tmp_path / "serving.json").write_text(json.dumps(serving))
  text = tables.markdown(tmp_path)
  assert "**123.46**" in text
  assert "batch 1000: q/s" in text and "batch 100: q/s" not in text


def test_readme_without_the_block_is_a_clear_error():
  with pytest.raises(ValueError, match="benchmark-tables"):
    tables.readme_block("# no tables here\n")
