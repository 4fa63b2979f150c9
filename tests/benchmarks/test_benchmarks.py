"""Each benchmark runs on a tiny size and writes the JSON keys the checks
read; no timing is asserted here (speed targets live in the results)."""

import json

import pytest

from tfrs_ltttd import cli

KEYS = {
    "retrieval": {"scann": {"recall@100", "qps", "p50_ms", "p99_ms",
                            "build_s"},
                  "bruteforce": {"qps", "p50_ms", "p99_ms"}},
    "serving": {"": {"p50_ms", "p99_ms", "batched_qps", "retrieve_ms",
                     "rerank_ms"}},
    "training": {"": {"ltttd_examples_per_s", "cascade_examples_per_s",
                      "two_tower_examples_per_s"}},
    "scaling": {"retrieval": {"bruteforce_slope", "scann_slope"},
                "rerank": {"slope"}},
}


@pytest.mark.slow
def test_every_benchmark_writes_its_keys(tmp_path, capsys):
  assert cli.main(["benchmark", "--tiny", "--output", str(tmp_path)]) == 0
  for name, sections in KEYS.items():
    result = json.loads((tmp_path / f"{name}.json").read_text())
    assert result["machine"]["cores"] >= 1 and result["machine"]["tensorflow"]
    for section, keys in sections.items():
      values = result[section] if section else result
      assert keys <= set(values), (name, section)
      for key in keys:
        assert isinstance(values[key], float) and values[key] == values[key]
  assert (tmp_path / "scaling.png").stat().st_size > 1000
  out = capsys.readouterr().out
  assert "benchmarks.retrieval --output" in out
