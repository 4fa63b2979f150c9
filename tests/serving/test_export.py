import concurrent.futures
import inspect
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfrs_ltttd import LTTTDModel, ModelConfig, TrainConfig, training
from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.serving import (Recommender, custom_ops, decode_rest_request,
                                export)

ROOT = pathlib.Path(__file__).resolve().parents[2]
K, TOP, H = 40, 5, 6


@pytest.fixture(scope="module")
def model(small_data):
  tf.keras.utils.set_random_seed(11)
  m = LTTTDModel.from_data(small_data, ModelConfig(
      output_dim=16, embedding_dim=8, num_layers=1, num_heads=2, width=16,
      history_length=H))
  training.fit(m, small_data, TrainConfig(
      epochs=1, batch_size=64, list_size=12, num_positives=3,
      num_hard_negatives=0, num_in_batch_negatives=2), verbose=0)
  return m


@pytest.fixture(scope="module")
def exports(model, small_data, tmp_path_factory):
  base = tmp_path_factory.mktemp("saved_models")
  out = {}
  for kind in ("bruteforce", "scann"):
    recommender = Recommender(model, small_data.items, index=kind,
                              num_candidates=K, k=TOP)
    out[kind] = (recommender, export(recommender, base, name=kind))
  return out


def _queries(data, rows=(0, 5, 17, 42)):
  return {k: tf.constant(v)
          for k, v in serving_query(data, np.array(rows), H).items()}


def test_recommend_is_retrieval_then_transformer(model, small_data, exports):
  recommender = exports["bruteforce"][0]
  queries = _queries(small_data)
  got = recommender.recommend(queries)
  # Reference: numpy top-K on the tower embeddings, then the model re-ranks
  # those K from raw item features.
  q = model.query_tower(queries).numpy()
  items = model.item_tower(small_data.items).numpy()
  rows = np.argsort(-(q @ items.T), axis=1, kind="stable")[:, :K]
  candidates = {k: tf.constant(v[rows]) for k, v in small_data.items.items()}
  # Items in the request's history are masked out of the re-ranking.
  history = queries["history_item_ids"].numpy()
  ids = small_data.items["item_id"][rows]
  mask = ~(ids[:, :, None] == history[:, None, :]).any(-1)
  assert not mask.all()  # the case occurs here
  scores = model({"query": queries, "candidates": candidates,
                  "mask": tf.constant(mask)}).numpy()
  order = np.argsort(-scores, axis=1, kind="stable")[:, :TOP]
  want_ids = small_data.items["item_id"][np.take_along_axis(rows, order, 1)]
  np.testing.assert_array_equal(got["item_ids"].numpy(), want_ids)
  np.testing.assert_allclose(got["scores"],
                             np.take_along_axis(scores, order, 1), atol=1e-4)


def test_layout_is_versioned_and_never_overwritten(exports, small_data, model):
  recommender, path = exports["bruteforce"]
  assert path.name == "1" and (path / "saved_model.pb").is_file()
  meta = json.loads((path / "assets.extra" / "ltttd.json").read_text())
  assert meta["index"] == "bruteforce" and meta["num_candidates"] == K
  assert meta["max_batch"] == recommender.max_batch
  assert meta["correction_weight"] == pytest.approx(
      float(model.transformer.correction_weight.numpy()))
  second = export(recommender, path.parent.parent, name="bruteforce")
  assert second.name == "2"
  with pytest.raises(ValueError, match="version 1 exists already"):
    export(recommender, path.parent.parent, name="bruteforce", version=1)


def test_failed_export_leaves_nothing_behind(exports, monkeypatch):
  recommender, path = exports["bruteforce"]
  before = sorted(p.name for p in path.parent.iterdir())
  stamp = (path / "saved_model.pb").stat().st_mtime_ns

  def broken_save(obj, export_dir, **kwargs):
    pathlib.Path(export_dir, "saved_model.pb").parent.mkdir(parents=True)
    pathlib.Path(export_dir, "saved_model.pb").write_bytes(b"half")
    raise OSError("disk full")

  monkeypatch.setattr(tf.saved_model, "save", broken_save)
  with pytest.raises(OSError, match="disk full"):
    export(recommender, path.parent.parent, name="bruteforce")
  assert sorted(p.name for p in path.parent.iterdir()) == before
  assert (path / "saved_model.pb").stat().st_mtime_ns == stamp


def test_bruteforce_export_has_only_stock_ops_and_scann_is_flagged(exports):
  assert custom_ops(exports["bruteforce"][1]) == set()
  flagged = custom_ops(exports["scann"][1])
  assert flagged and all(op.startswith("Scann>") for op in flagged)


_FRESH = """
import json, sys
import numpy as np, tensorflow as tf
if sys.argv[2] == "scann":
  import scann  # registers ScaNN's ops
loaded = tf.saved_model.load(sys.argv[1])
specs = loaded.signatures["serving_default"].structured_input_signature[1]
queries = {k: tf.constant(v, specs[k].dtype)
           for k, v in json.loads(sys.argv[3]).items()}
out = {}
for name in ("serving_default", "retrieve"):
  out[name] = {k: v.numpy().tolist()
               for k, v in loaded.signatures[name](**queries).items()}
ids = tf.constant(out["retrieve"]["item_ids"], tf.int64)[:, ::-1]
out["rank"] = {k: v.numpy().tolist() for k, v in
               loaded.signatures["rank"](**queries, candidate_ids=ids).items()}
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bruteforce", "scann"])
def test_fresh_process_gives_the_same_results(exports, small_data, kind):
  recommender, path = exports[kind]
  queries = _queries(small_data)
  payload = json.dumps({k: v.numpy().tolist() if v.dtype != tf.string else
                        [s.decode() for s in v.numpy()]
                        for k, v in queries.items()})
  result = subprocess.run([sys.executable, "-c", _FRESH, str(path), kind,
                           payload], capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  want = recommender.recommend(queries)
  np.testing.assert_array_equal(out["serving_default"]["item_ids"],
                                want["item_ids"].numpy())
  np.testing.assert_allclose(out["serving_default"]["scores"],
                             want["scores"].numpy(), atol=1e-5)
  retrieved = recommender.retrieve(queries)
  np.testing.assert_array_equal(out["retrieve"]["item_ids"],
                                retrieved["item_ids"].numpy())
  ranked = recommender.rank(
      queries, tf.constant(out["retrieve"]["item_ids"], tf.int64)[:, ::-1])
  np.testing.assert_allclose(out["rank"]["scores"], ranked["scores"].numpy(),
                             atol=1e-5)


def test_retrieve_of_the_bruteforce_export_is_a_numpy_dot_top_k(
    exports, model, small_data):
  loaded = tf.saved_model.load(str(exports["bruteforce"][1]))
  queries = _queries(small_data, range(0, 300, 7))
  got = loaded.signatures["retrieve"](**queries)
  q = model.query_tower(queries).numpy()
  items = model.item_tower(small_data.items).numpy()
  scores = q @ items.T
  want = -np.sort(-scores, axis=1)[:, :K]
  # Scores, not ids, decide: near ties may come in either order.
  np.testing.assert_allclose(got["scores"], want, atol=1e-5)
  row_of = {int(i): r for r, i in enumerate(small_data.items["item_id"])}
  rows = np.vectorize(row_of.get)(got["item_ids"].numpy())
  np.testing.assert_allclose(np.take_along_axis(scores, rows, 1),
                             got["scores"], atol=1e-5)
  assert all(len(set(r)) == K for r in rows)


def test_bad_requests_get_clear_errors(exports, small_data):
  loaded = tf.saved_model.load(str(exports["bruteforce"][1]))
  serve = loaded.signatures["serving_default"]
  queries = _queries(small_data)
  with pytest.raises(TypeError, match="user_id"):
    serve(user_segment=queries["user_segment"], user_age=queries["user_age"])
  with pytest.raises(tf.errors.InvalidArgumentError, match="int64"):
    serve(**{**queries, "user_id": tf.constant(["7", "8", "9", "10"])})
  # REST bodies: the input is named.
  history = {"history_item_ids": [3, -1], "history_labels": [1.0, 0.0]}
  with pytest.raises(ValueError, match=r"missing input\(s\) \['user_age'\]"):
    decode_rest_request({"instances": [{"user_id": 1, "user_segment": "s1",
                                        **history}]}, serve)
  with pytest.raises(ValueError, match="input 'user_id' must be int64"):
    decode_rest_request({"inputs": {"user_id": ["a"], "user_segment": ["s1"],
                                    "user_age": [30.0],
                                    **{k: [v] for k, v in history.items()}}},
                        serve)
  with pytest.raises(ValueError, match="'history_item_ids' has lists of "
                     "different lengths"):
    decode_rest_request({"instances": [
        {"user_id": 1, "user_segment": "s1", "user_age": 3.0, **history},
        {"user_id": 2, "user_segment": "s1", "user_age": 3.0,
         "history_item_ids": [3], "history_labels": [1.0]}]}, serve)


def test_history_is_read_by_both_stages_and_may_be_empty(exports,
                                                         small_data):
  loaded = tf.saved_model.load(str(exports["bruteforce"][1]))
  queries = _queries(small_data, (3,))
  empty = {**queries,
           "history_item_ids": tf.fill([1, H], tf.constant(-1, tf.int64)),
           "history_labels": tf.zeros([1, H])}
  none = {**queries, "history_item_ids": tf.zeros([1, 0], tf.int64),
          "history_labels": tf.zeros([1, 0])}
  with_history = loaded.signatures["retrieve"](**queries)
  without = loaded.signatures["retrieve"](**empty)
  # The history moves the query embedding, so retrieval changes ...
  assert not np.allclose(with_history["scores"], without["scores"])
  # ... and an all-padding history equals no history at all.
  np.testing.assert_allclose(
      loaded.signatures["serving_default"](**none)["scores"],
      loaded.signatures["serving_default"](**empty)["scores"], atol=1e-5)
  # Padding beyond the real items changes nothing.
  padded = {**queries,
            "history_item_ids": tf.concat(
                [queries["history_item_ids"],
                 tf.fill([1, 3], tf.constant(-1, tf.int64))], 1),
            "history_labels": tf.concat([queries["history_labels"],
                                         tf.zeros([1, 3])], 1)}
  np.testing.assert_allclose(
      loaded.signatures["serving_default"](**padded)["scores"],
      loaded.signatures["serving_default"](**queries)["scores"], atol=1e-5)


def test_unknown_ids_use_the_oov_bucket_or_are_masked(exports, small_data):
  loaded = tf.saved_model.load(str(exports["bruteforce"][1]))
  queries = {"user_id": tf.constant([123456], tf.int64),
             "user_segment": tf.constant(["never-seen"]),
             "user_age": tf.constant([40.0]),
             "history_item_ids": tf.constant([[777777, 3, -1]], tf.int64),
             "history_labels": tf.constant([[1.0, 2.0, 0.0]])}
  out = loaded.signatures["serving_default"](**queries)
  assert out["item_ids"].shape == (1, TOP)
  assert np.all(np.isfinite(out["scores"].numpy()))
  ranked = loaded.signatures["rank"](
      **queries, candidate_ids=tf.constant([[3, 999999, 4]], tf.int64))
  np.testing.assert_array_equal(ranked["mask"].numpy(), [[True, False, True]])
  assert ranked["scores"].numpy()[0, 1] < -1e8


def _readme_rest_example():
  text = (ROOT / "README.md").read_text()
  match = re.search(r"<!-- rest-request -->\s*```json\s*(.*?)```", text,
                    re.S)
  assert match, "README.md lost its REST request example"
  return json.loads(match.group(1))


def test_readme_rest_request_is_accepted(exports):
  loaded = tf.saved_model.load(str(exports["bruteforce"][1]))
  body = _readme_rest_example()
  signature = loaded.signatures[body.get("signature_name",
                                         "serving_default")]
  out = signature(**decode_rest_request(body, signature))
  assert out["item_ids"].shape == (len(body["instances"]), TOP)


@pytest.mark.parametrize("name, bad", [("user_age", np.nan),
                                       ("user_age", np.inf),
                                       ("history_labels", np.nan)])
def test_non_finite_numeric_feature_is_invalid_argument(exports, small_data,
                                                        name, bad):
  loaded = tf.saved_model.load(str(exports["bruteforce"][1]))
  queries = {k: v.numpy().copy() for k, v in _queries(small_data).items()}
  queries[name][(1,) + (0,) * (queries[name].ndim - 1)] = bad
  for signature in ("serving_default", "retrieve"):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=f"numeric feature '{name}' must be finite"):
      loaded.signatures[signature](**{k: tf.constant(v)
                                      for k, v in queries.items()})


def test_stock_saved_model_cli_serves_the_readme_query(exports, tmp_path):
  """TensorFlow's own `saved_model_cli run`, in a process that never imports
  tfrs_ltttd, on the BruteForce export, fed the README's REST request."""
  body = _readme_rest_example()
  columns = {k: [instance[k] for instance in body["instances"]]
             for k in body["instances"][0]}
  dtypes = {"user_id": np.int64, "user_segment": np.bytes_,
            "user_age": np.float32, "history_item_ids": np.int64,
            "history_labels": np.float32}
  inputs = []
  for name, values in columns.items():
    np.save(tmp_path / f"{name}.npy", np.array(values, dtypes[name]))
    inputs.append(f"{name}={tmp_path / name}.npy")
  path = exports["bruteforce"][1]
  out = tmp_path / "out"
  cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
  result = subprocess.run(
      [str(cli), "run", "--dir", str(path), "--tag_set", "serve",
       "--signature_def", "serving_default", "--inputs", ";".join(inputs),
       "--outdir", str(out), "--overwrite"],
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  loaded = tf.saved_model.load(str(path))
  signature = loaded.signatures["serving_default"]
  ours = signature(**decode_rest_request(body, signature))
  np.testing.assert_array_equal(np.load(out / "item_ids.npy"),
                                ours["item_ids"])
  np.testing.assert_allclose(np.load(out / "scores.npy"), ours["scores"],
                             rtol=1e-5)


def test_inputs_of_different_batch_sizes_are_named(exports, small_data):
  loaded = tf.saved_model.load(str(exports["bruteforce"][1]))
  queries = _queries(small_data)
  short = {**queries, "user_age": queries["user_age"][:3]}
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"input \W*user_age\W* must hold one row per"):
    loaded.signatures["serving_default"](**short)
  candidates = tf.constant(small_data.items["item_id"][:6].reshape(2, 3))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"input \W*candidate_ids\W* must hold one row"):
    loaded.signatures["rank"](candidate_ids=candidates, **queries)


@pytest.mark.parametrize("kind", ["bruteforce", "scann"])
def test_history_ids_and_labels_of_different_lengths_are_named(
    exports, small_data, kind):
  loaded = tf.saved_model.load(str(exports[kind][1]))
  queries = _queries(small_data)
  short = {**queries, "history_labels": queries["history_labels"][:, :H - 2]}
  for name in ("serving_default", "retrieve"):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"history_item_ids\W* and \W*history_labels\W* "
                       "must be equally long"):
      loaded.signatures[name](**short)


@pytest.mark.parametrize("kind", ["bruteforce", "scann"])
def test_an_empty_batch_gets_empty_answers(exports, small_data, kind):
  loaded = tf.saved_model.load(str(exports[kind][1]))
  empty = {k: v[:0] for k, v in _queries(small_data).items()}
  result = loaded.signatures["serving_default"](**empty)
  assert result["item_ids"].shape == (0, TOP) == result["scores"].shape
  retrieved = loaded.signatures["retrieve"](**empty)
  assert retrieved["item_ids"].shape == (0, K)
  # And a batch of one still answers as before the empty one.
  one = {k: v[:1] for k, v in _queries(small_data).items()}
  np.testing.assert_array_equal(
      loaded.signatures["serving_default"](**one)["item_ids"],
      exports[kind][0].recommend(one)["item_ids"])


def test_a_killed_exports_temporary_folder_is_removed_next_time(
    exports, tmp_path):
  recommender = exports["bruteforce"][0]
  base = tmp_path / "models"
  # What a killed export of version 1 leaves behind.
  stale = base / "ltttd" / ".1.tmp-0123456789abcdef"
  (stale / "variables").mkdir(parents=True)
  (stale / "saved_model.pb").write_bytes(b"half")
  path = export(recommender, base, name="ltttd")
  assert path.name == "1" and (path / "saved_model.pb").stat().st_size > 4
  assert sorted(p.name for p in path.parent.iterdir()) == ["1"]


def test_an_export_serves_the_correction_weight_it_was_given(
    model, small_data, tmp_path):
  queries = _queries(small_data)
  try:
    model.transformer.set_correction_weight(0.0)
    path = export(Recommender(model, small_data.items, num_candidates=K,
                              k=TOP), tmp_path)
  finally:
    model.transformer.set_correction_weight(1.0)
  got = tf.saved_model.load(str(path)).signatures["serving_default"](
      **queries)["item_ids"].numpy()
  # Weight 0: the towers' order, history items masked, as numpy gives it.
  q = model.query_tower(queries).numpy()
  items = model.item_tower(small_data.items).numpy()
  ids = small_data.items["item_id"]
  history = queries["history_item_ids"].numpy()
  want = []
  for row, scores in enumerate(q @ items.T):
    order = ids[np.argsort(-scores, kind="stable")[:K]]
    want.append([i for i in order if i not in history[row]][:TOP])
  np.testing.assert_array_equal(got, np.array(want))
  reranked = Recommender(model, small_data.items, num_candidates=K,
                         k=TOP).recommend(queries)["item_ids"].numpy()
  assert not np.array_equal(reranked, got)  # weight 1 re-orders


@pytest.fixture(scope="module")
def chunked(model, small_data, tmp_path_factory):
  """Exports that answer more than 7 queries in chunks of 7."""
  base = tmp_path_factory.mktemp("chunked")
  return {kind: tf.saved_model.load(str(export(
      Recommender(model, small_data.items, index=kind, num_candidates=K,
                  k=TOP, max_batch=7), base, name=kind)))
          for kind in ("bruteforce", "scann")}


@pytest.mark.parametrize("kind", ["bruteforce", "scann"])
def test_large_requests_are_answered_in_chunks_alike(exports, chunked,
                                                     small_data, kind):
  loaded, whole = chunked[kind], exports[kind][0]
  assert whole.max_batch >= 50
  # 50 queries: 8 chunks of 7, the last padded with repeats of query 49.
  queries = _queries(small_data, np.arange(50) % small_data.num_users)
  candidates = tf.constant(small_data.items["item_id"][
      np.random.default_rng(0).integers(0, small_data.num_items, (50, 9))])
  pairs = [
      (loaded.signatures["serving_default"](**queries),
       whole.recommend(queries)),
      (loaded.signatures["retrieve"](**queries), whole.retrieve(queries)),
      (loaded.signatures["rank"](candidate_ids=candidates, **queries),
       whole.rank(queries, candidates)),
  ]
  for got, want in pairs:
    assert sorted(got) == sorted(want)
    for key in want:
      assert got[key].shape == want[key].shape
      if want[key].dtype.is_floating:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-5)
      else:
        np.testing.assert_array_equal(got[key], want[key])
  # The chunks are a loop in the graph, so the request's size is free.
  ops = {n.op for f in loaded.signatures["serving_default"].graph.as_graph_def(
      ).library.function for n in f.node_def}
  assert ops & {"While", "StatelessWhile"}
  many = _queries(small_data, np.arange(20_000) % small_data.num_users)
  out = loaded.signatures["serving_default"](**many)
  assert out["item_ids"].shape == (20_000, TOP)
  ids = out["item_ids"].numpy()
  np.testing.assert_array_equal(ids[:50], pairs[0][1]["item_ids"])
  # Query i is user i % num_users: every chunk (the last one padded too)
  # answers its users as the first chunks do.
  np.testing.assert_array_equal(ids, ids[np.arange(20_000) %
                                         small_data.num_users])


@pytest.mark.parametrize("sizes", [
    [5] * 16,  # the direct path only
    [1, 6, 7, 8, 13, 14, 15, 40, 3, 22] * 3,  # both, across chunk bounds
])
def test_concurrent_calls_match_sequential_ones(chunked, small_data, sizes):
  serve = chunked["bruteforce"].signatures["serving_default"]  # chunks of 7
  batches = [_queries(small_data, (np.arange(n) * 7 + i) % small_data.num_users)
             for i, n in enumerate(sizes)]
  sequential = [serve(**b)["item_ids"].numpy() for b in batches]
  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    parallel = list(pool.map(lambda b: serve(**b)["item_ids"].numpy(),
                             batches))
  for a, b in zip(sequential, parallel):
    np.testing.assert_array_equal(a, b)


_THREADED = """
import json, sys
import tensorflow as tf
intra, inter = int(sys.argv[2]), int(sys.argv[3])
tf.config.threading.set_intra_op_parallelism_threads(intra)
tf.config.threading.set_inter_op_parallelism_threads(inter)
from tfrs_ltttd.serving import decode_rest_request
loaded = tf.saved_model.load(sys.argv[1])
signature = loaded.signatures["serving_default"]
out = signature(**decode_rest_request(json.loads(sys.argv[4]), signature))
print(json.dumps({"threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                              tf.config.threading.get_inter_op_parallelism_threads()],
                  "item_ids": out["item_ids"].numpy().tolist()}))
"""


def test_the_readme_serving_setup_loads_and_answers_alike(exports):
  """The model server's flags and batching parameters README gives: the
  batching file names only `BatchingParameters` fields, its batches take
  the export's direct path, and the export serves the README's request
  with the thread settings of the flags, as it does with the default ones."""
  text = (ROOT / "README.md").read_text()
  flags = re.search(r"<!-- model-server-flags -->\s*```sh\s*(.*?)```", text,
                    re.S)
  batching = re.search(r"<!-- batching-parameters -->\s*```\s*(.*?)```",
                       text, re.S)
  assert flags and batching, "README.md lost its serving set-up"
  threads = dict(re.findall(r"--tensorflow_(intra|inter)_op_parallelism=(\d+)",
                            flags.group(1)))
  assert set(threads) == {"intra", "inter"}
  assert "--enable_batching" in flags.group(1)
  params = dict(re.findall(r"^(\w+) \{ value: (\d+) \}$", batching.group(1),
                           re.M))
  assert len(params) == len(batching.group(1).strip().splitlines())
  # TF Serving's BatchingParameters (session_bundle_config.proto).
  assert set(params) <= {"max_batch_size", "batch_timeout_micros",
                         "max_enqueued_batches", "num_batch_threads"}
  default = inspect.signature(Recommender).parameters["max_batch"].default
  assert 1 <= int(params["max_batch_size"]) <= default
  assert int(params["num_batch_threads"]) >= 1
  body = _readme_rest_example()
  loaded = tf.saved_model.load(str(exports["bruteforce"][1]))
  signature = loaded.signatures["serving_default"]
  want = signature(**decode_rest_request(body, signature))["item_ids"]
  out = subprocess.run(
      [sys.executable, "-c", _THREADED, str(exports["bruteforce"][1]),
       threads["intra"], threads["inter"], json.dumps(body)],
      capture_output=True, text=True, timeout=300, check=True, cwd=ROOT)
  got = json.loads(out.stdout.strip().splitlines()[-1])
  assert got["threads"] == [int(threads["intra"]), int(threads["inter"])]
  np.testing.assert_array_equal(got["item_ids"], want.numpy())


def test_an_export_serves_the_item_item_term_as_the_model_does(
    model, small_data, tmp_path):
  config = ModelConfig(output_dim=16, embedding_dim=8, num_layers=1,
                       num_heads=2, width=16, history_length=H,
                       item_item_neighbours=8, item_item_l2=10.0)
  with_table = LTTTDModel.from_data(small_data, config)
  queries = _queries(small_data)
  rows = np.tile(np.arange(0, 60, 3), (4, 1))
  candidates = {k: tf.constant(v[rows]) for k, v in small_data.items.items()}
  mask = tf.ones(rows.shape, tf.bool)
  with_table.score_lists(queries, candidates, mask)  # builds the layers
  # The trained towers and transformer, then a table and a weight.
  for name in ("query_tower", "item_tower", "transformer"):
    getattr(with_table, name).set_weights(getattr(model, name).get_weights())
  with_table.item_item.set_served_weight(0.7)
  want = with_table.score_lists(queries, candidates, mask)["scores"].numpy()
  alone = with_table.score_lists(queries, candidates, mask,
                                 item_item_weight=0.0)["scores"].numpy()
  assert np.abs(want - alone).max() > 1e-3  # the term moves the scores

  path = export(Recommender(with_table, small_data.items, num_candidates=K,
                            k=TOP), tmp_path, name="item_item")
  assert not custom_ops(path)  # stock TensorFlow Serving loads it
  loaded = tf.saved_model.load(str(path))
  got = loaded.signatures["rank"](
      **queries, candidate_ids=tf.constant(small_data.items["item_id"][rows]))
  np.testing.assert_allclose(got["scores"], want, rtol=1e-4, atol=1e-4)
