"""Sampled catalogue-wide negatives against the global in-batch softmax.

Parameter-server workers step asynchronously: a worker's retrieval softmax
sees only its own batch. On MovieLens 100K (the time split, the report's
towers with history), retrieval alone (`beta = gamma = 0`) is trained with:

- `global_in_batch`: the global batch B = 256 (what one process, or
  MultiWorkerMirroredStrategy, sees);
- `worker_in_batch`: one of two workers' batches, B / 2, nothing else;
- `worker_plus_sampled_frequency` / `_uniform`: B / 2 plus S = 128
  catalogue-wide negatives (`TrainConfig.num_sampled_negatives`), drawn by
  interaction frequency or uniformly, log-Q corrected;

three seeds each, 8 epochs, and compared on the held-out test split
(recall@100 and the towers' NDCG@10). B / 2 runs twice the steps per epoch,
as two workers together do.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import tensorflow as tf

from benchmarks import common
from tfrs_ltttd import LTTTDModel, ModelConfig, TrainConfig, evaluation
from tfrs_ltttd import training
from tfrs_ltttd.data import movielens, synthetic

BATCH, SAMPLED = 256, 128
VARIANTS = {
    "global_in_batch": dict(batch_size=BATCH),
    "worker_in_batch": dict(batch_size=BATCH // 2),
    "worker_plus_sampled_frequency": dict(
        batch_size=BATCH // 2, num_sampled_negatives=SAMPLED,
        negative_sampling="frequency"),
    "worker_plus_sampled_uniform": dict(
        batch_size=BATCH // 2, num_sampled_negatives=SAMPLED,
        negative_sampling="uniform"),
}


def _report_model_config() -> ModelConfig:
  report = common.RESULTS / "movielens-100k.json"
  config = json.loads(report.read_text())["model_config"]
  config["hidden_units"] = tuple(config["hidden_units"])
  return dataclasses.replace(ModelConfig(**config), beta=0.0, gamma=0.0)


def run(data, model_config: ModelConfig, epochs: int, seeds, scale=1) -> dict:
  result = {"machine": common.machine(), "epochs": epochs,
            "seeds": list(seeds), "batch_size": BATCH // scale,
            "num_sampled_negatives": SAMPLED // scale, "variants": {}}
  for name, settings in VARIANTS.items():
    settings = {k: (v // scale if isinstance(v, int) else v)
                for k, v in settings.items()}
    runs = []
    for seed in seeds:
      tf.keras.utils.set_random_seed(seed)
      model = LTTTDModel.from_data(data, model_config)
      training.fit(model, data, TrainConfig(epochs=epochs, seed=seed,
                                            **settings), verbose=0)
      metrics = evaluation.evaluate(model, data, k_retrieval=100)
      runs.append({"recall@100": metrics["recall@100"],
                   "ndcg@10_towers": metrics["ndcg@10_two_tower"]})
    result["variants"][name] = {
        "settings": settings, "per_seed": runs,
        **{f"{k}_mean": float(np.mean([r[k] for r in runs])) for k in runs[0]},
        **{f"{k}_std": float(np.std([r[k] for r in runs])) for k in runs[0]}}
  return result


def main(argv=None) -> dict:
  args = common.parser(__doc__.splitlines()[0]).parse_args(argv)
  if args.tiny:
    data = synthetic.generate(synthetic.SyntheticConfig(
        num_users=150, num_items=120, interactions_per_user=8))
    config = ModelConfig(output_dim=8, embedding_dim=8, hidden_units=(8,),
                         num_layers=1, num_heads=2, width=8,
                         history_length=3, beta=0.0, gamma=0.0)
    result = run(data, config, 1, [args.seed], scale=8)
  else:
    path = movielens.default_path()
    if path is None:
      raise SystemExit("negatives: MovieLens 100K not found (set "
                       f"{movielens.DATA_ENV} or put it in ../shared/data).")
    data = movielens.load(path, "100k")
    result = run(data, _report_model_config(), 8, [0, 1, 2])
  out = common.write_json(result, args.output, "negatives")
  v = result["variants"]
  print("negatives: recall@100 " + ", ".join(
      f"{n} {x['recall@100_mean']:.4f} +- {x['recall@100_std']:.4f}"
      for n, x in v.items()) + f" -> {out}")
  return result


if __name__ == "__main__":
  main()
