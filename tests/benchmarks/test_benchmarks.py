"""Each benchmark runs on a tiny size and writes the JSON keys the checks
read; no timing is asserted here (speed targets live in the results)."""

import json

import pytest

from tfrs_ltttd import cli

KEYS = {
    "retrieval": {"scann": {"recall@100", "qps", "p50_ms", "p99_ms",
                            "build_s", "speedup_vs_bruteforce"},
                  "bruteforce": {"qps", "p50_ms", "p99_ms", "flop_fraction",
                                 "recall@100", "max_rank_score_error"},
                  "": {"sgemm_gflops"}},
    "serving": {"": {"p50_ms", "p99_ms", "batched_qps", "retrieve_ms",
                     "rerank_ms", "rerank_batched_qps",
                     "rerank_flops_per_query", "rerank_flop_fraction",
                     "sgemm_gflops"},
                "large_batch": {"peak_rss_mb"},
                "largest_batch": {"peak_rss_mb"},
                "batched_parallel": {"qps"},
                "load": {"qps", "p50_ms", "p99_ms", "rss_mb_start",
                         "rss_mb_end"},
                "history_cost_ms": {"p50_ms"}},
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
  retrieval = json.loads((tmp_path / "retrieval.json").read_text())
  # The exact index returns numpy's top-k; every peer reports (or says why
  # it was skipped) at the same batch size.
  assert retrieval["bruteforce"]["recall@100"] == 1.0
  assert retrieval["bruteforce"]["max_rank_score_error"] < 1e-5
  for name, peer in retrieval["peers"].items():
    assert "skipped" in peer or (peer["batch"] == retrieval["batch"]
                                 and 0 < peer["recall@100"] <= 1), name
  frontier = retrieval["scann_frontier"]["frontier"]
  assert all(a["recall@100"] < b["recall@100"] and a["qps"] > b["qps"]
             for a, b in zip(frontier, frontier[1:]))
  serving = json.loads((tmp_path / "serving.json").read_text())
  assert serving["load"]["errors"] == 0 and serving["load"]["requests"] > 0
  assert serving["large_batch"]["errors"] == 0
  assert serving["largest_batch"]["errors"] == 0
  assert serving["largest_batch"]["queries"] > 64  # answered in chunks
  assert 0 < serving["rerank_flop_fraction"] < 1
  by_chunk = serving["batched_qps_by_max_batch"]
  assert sorted(by_chunk, key=int) == ["2", "4", "8"]  # batches of 8
  assert all(v > 0 for v in by_chunk.values())


@pytest.mark.slow
def test_negatives_benchmark_compares_every_variant(tmp_path):
  assert cli.main(["benchmark", "--tiny", "--only", "negatives", "--output",
                   str(tmp_path)]) == 0
  result = json.loads((tmp_path / "negatives.json").read_text())
  assert set(result["variants"]) == {
      "global_in_batch", "worker_in_batch", "worker_plus_sampled_frequency",
      "worker_plus_sampled_uniform"}
  for variant in result["variants"].values():
    assert 0.0 <= variant["recall@100_mean"] <= 1.0
