"""LTTTDTask: retrieval + listwise ranking + distillation, weighted."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrs_ltttd import losses
from tfrs_ltttd.settings import NON_NEGATIVE, POSITIVE
from tfrs_ltttd.tasks.cross_replica import gather_across_replicas


@tf.keras.utils.register_keras_serializable(package="tfrs_ltttd")
class LTTTDTask(tf.keras.layers.Layer, tfrs.tasks.Task):
  """The joint LT-TTD objective.

  `loss = alpha * L_retrieval + beta * L_rank + gamma * L_KD
  (+ reverse_weight * L_KD_reverse)`, each term a mean over queries (so
  that the weights do not depend on the batch size):

  - `L_retrieval`: `tfrs.tasks.Retrieval`, in-batch softmax over the
    two-tower scores `<e_q, e_i> / retrieval_temperature`, with the log-Q
    sampling-probability correction when probabilities are given.
  - `L_rank`: a `tfrs_ltttd.losses` listwise loss of the transformer scores
    against the graded labels of the candidate list (softmax by default).
  - `L_KD`: `T^2 * KL(softmax(z / T) || softmax(s / T))` on the same list,
    the transformer scores z as teacher (gradient stopped) and the two-tower
    scores s as student: it pulls retrieval toward the re-ranker.
  - `L_KD_reverse` (optional, the "bidirectional" variant): the same with the
    roles swapped, towers teaching the transformer.
  - `L_KD_wide` (with `wide_distillation`): the same KL over a set wider
    than the list (e.g. the step's in-batch items), whose teacher and
    student scores the caller gives (`wide_scores`); weighted by gamma too.

  Each term is logged as its own metric (`retrieval_loss`, `ranking_loss`,
  `distillation_loss`, and `reverse_distillation_loss` when its weight is
  positive) with its unweighted value, so runs with different weights
  compare directly. A zero weight removes its term from the total loss and
  from the gradient. `distillation_weight`, a variable that starts at gamma,
  is the weight in force; `tfrs_ltttd.training.fit` holds it at 0 during a
  distillation warm-up.

  Args:
    alpha: weight of the retrieval loss.
    beta: weight of the listwise ranking loss.
    gamma: distillation strength (the paper's knob on irretrievable items).
    temperature: distillation temperature T > 0.
    reverse_weight: weight of the reverse (towers -> transformer) term.
    wide_distillation: add `L_KD_wide` (then `call` needs `wide_scores`).
    ranking_loss: short name, see `tfrs_ltttd.losses.ranking_loss`.
    retrieval_temperature: the two-tower score scale tau > 0; the model uses
      the same tau for the scores it gives the transformer.
    remove_accidental_hits: drop in-batch negatives equal to the positive
      (needs candidate ids).
    retrieval_metrics: optional `tfrs.metrics.FactorizedTopK` metrics,
      computed outside training only.
    **kwargs: passed to `tf.keras.layers.Layer`.

  Raises:
    ValueError: for a negative weight or a non-positive temperature.

  References:
    A. Abraich, "Theoretical Guarantees for LT-TTD", arXiv 2505.04434.
    G. Hinton et al., "Distilling the Knowledge in a Neural Network", 2015.
  """

  def __init__(
      self,
      alpha: float = 1.0,
      beta: float = 1.0,
      gamma: float = 1.0,
      temperature: float = 1.0,
      reverse_weight: float = 0.0,
      wide_distillation: bool = False,
      ranking_loss: str = "softmax",
      retrieval_temperature: float = 0.1,
      remove_accidental_hits: bool = True,
      retrieval_metrics: Optional[Any] = None,
      **kwargs,
  ):
    super().__init__(**kwargs)
    for field, value, accepted in [
        ("alpha", alpha, NON_NEGATIVE), ("beta", beta, NON_NEGATIVE),
        ("gamma", gamma, NON_NEGATIVE),
        ("reverse_weight", reverse_weight, NON_NEGATIVE),
        ("temperature", temperature, POSITIVE),
        ("retrieval_temperature", retrieval_temperature, POSITIVE)]:
      problem = accepted.problem(value)
      if problem:
        raise ValueError(f"LTTTDTask: {field} {problem}, got {value}.")
    self.alpha = float(alpha)
    self.beta = float(beta)
    self.gamma = float(gamma)
    self.temperature = float(temperature)
    self.reverse_weight = float(reverse_weight)
    self.wide_distillation = bool(wide_distillation)
    self.ranking_loss_name = ranking_loss
    self.retrieval_temperature = float(retrieval_temperature)
    self.remove_accidental_hits = remove_accidental_hits

    self._retrieval = tfrs.tasks.Retrieval(
        loss=tf.keras.losses.CategoricalCrossentropy(
            from_logits=True, reduction=tf.keras.losses.Reduction.NONE),
        metrics=retrieval_metrics,
        temperature=self.retrieval_temperature,
        remove_accidental_hits=remove_accidental_hits)
    self._ranking_loss = losses.ranking_loss(
        ranking_loss, reduction=tf.keras.losses.Reduction.NONE)
    self.retrieval_loss_tracker = tf.keras.metrics.Mean("retrieval_loss")
    self.ranking_loss_tracker = tf.keras.metrics.Mean("ranking_loss")
    self.distillation_loss_tracker = tf.keras.metrics.Mean("distillation_loss")
    self.reverse_loss_tracker = (
        tf.keras.metrics.Mean("reverse_distillation_loss")
        if reverse_weight > 0 else None)
    self.wide_loss_tracker = (
        tf.keras.metrics.Mean("wide_distillation_loss")
        if self.wide_distillation else None)
    # Epoch means of what `tfrs.Model`'s step logs (see `LTTTDModel`). Their
    # names differ from the logged keys on purpose: when every logged key
    # names a metric, Keras replaces the epoch's logs by the metrics read
    # across replicas, where a replica's share of the mean is not the mean.
    self.loss_tracker = tf.keras.metrics.Mean("loss_mean")
    self.regularization_loss_tracker = tf.keras.metrics.Mean(
        "regularization_loss_mean")
    self.total_loss_tracker = tf.keras.metrics.Mean("total_loss_mean")
    # The distillation weight in force, so that a schedule (a warm-up with
    # the teacher learning first) can change it without retracing.
    self.distillation_weight = tf.Variable(self.gamma, trainable=False,
                                           dtype=tf.float32,
                                           name="distillation_weight")

  def step_loss_trackers(self) -> Dict[str, tf.keras.metrics.Mean]:
    """The trackers of the model step's `loss`, `regularization_loss` and
    `total_loss`, by name."""
    return {"loss": self.loss_tracker,
            "regularization_loss": self.regularization_loss_tracker,
            "total_loss": self.total_loss_tracker}

  @property
  def needs_lists(self) -> bool:
    """False when only the retrieval term has a weight: the candidate lists
    need not be scored at all (a plain two-tower step)."""
    return bool(self.beta or self.gamma or self.reverse_weight)

  def _per_query(
      self,
      query_embeddings: tf.Tensor,
      item_embeddings: tf.Tensor,
      tower_scores: Optional[tf.Tensor],
      transformer_scores: Optional[tf.Tensor],
      labels: Optional[tf.Tensor],
      mask: Optional[tf.Tensor],
      candidate_sampling_probability: Optional[tf.Tensor],
      candidate_ids: Optional[tf.Tensor],
      compute_metrics: bool,
      sampled_negatives: Optional[Mapping[str, tf.Tensor]] = None,
      teacher_scores: Optional[tf.Tensor] = None,
      wide_scores: Optional[Sequence[tf.Tensor]] = None,
  ) -> Dict[str, tf.Tensor]:
    """The unweighted loss terms, one value per query: `{name: [B]}`."""
    ids = candidate_ids if self.remove_accidental_hits else None
    positive_q = (None if sampled_negatives is None
                  else sampled_negatives["positive_probability"])
    candidates, probability, ids, positive_q = gather_across_replicas(
        item_embeddings, candidate_sampling_probability, ids, positive_q)
    if sampled_negatives is not None:
      candidates, probability, ids = _with_sampled(
          candidates, probability, ids, positive_q, sampled_negatives)
    out = {"retrieval_loss": self._retrieval(
        query_embeddings, candidates,
        candidate_sampling_probability=probability, candidate_ids=ids,
        compute_metrics=compute_metrics, compute_batch_metrics=False)}
    if tower_scores is None:
      return out
    mask = tf.cast(mask, tf.bool)
    labels = tf.where(mask, tf.cast(labels, tf.float32), -1.0)
    ranking = self._ranking_loss(labels, transformer_scores)
    # Pairwise losses come per pair: their mean per list keeps the average
    # over the batch equal to TF-Ranking's SUM_OVER_BATCH_SIZE.
    out["ranking_loss"] = tf.reshape(ranking, [tf.shape(ranking)[0], -1])
    out["ranking_loss"] = tf.reduce_mean(out["ranking_loss"], axis=1)
    teacher = transformer_scores if teacher_scores is None else teacher_scores
    out["distillation_loss"] = losses.list_kl_divergence(
        tf.stop_gradient(teacher), tower_scores, mask, self.temperature)
    if self.reverse_weight > 0:
      out["reverse_distillation_loss"] = losses.list_kl_divergence(
          tf.stop_gradient(tower_scores), transformer_scores, mask,
          self.temperature)
    if self.wide_distillation:
      if wide_scores is None:
        raise ValueError("LTTTDTask: wide_distillation needs wide_scores "
                         "(teacher, student, mask).")
      teacher, student, wide_mask = wide_scores
      out["wide_distillation_loss"] = losses.list_kl_divergence(
          tf.stop_gradient(teacher), student, wide_mask, self.temperature)
    return out

  def terms(
      self,
      query_embeddings: tf.Tensor,
      item_embeddings: tf.Tensor,
      tower_scores: Optional[tf.Tensor],
      transformer_scores: Optional[tf.Tensor],
      labels: Optional[tf.Tensor],
      mask: Optional[tf.Tensor],
      candidate_sampling_probability: Optional[tf.Tensor] = None,
      candidate_ids: Optional[tf.Tensor] = None,
      compute_metrics: bool = True,
      sampled_negatives: Optional[Mapping[str, tf.Tensor]] = None,
      teacher_scores: Optional[tf.Tensor] = None,
      wide_scores: Optional[Sequence[tf.Tensor]] = None,
  ) -> Dict[str, tf.Tensor]:
    """The unweighted loss terms, each a mean over the queries of the batch
    (see `call` for the arguments).

    With `tower_scores` None (a task that does not `needs_lists`), only the
    retrieval term is computed.
    """
    return {k: tf.reduce_mean(v) for k, v in self._per_query(
        query_embeddings, item_embeddings, tower_scores, transformer_scores,
        labels, mask, candidate_sampling_probability, candidate_ids,
        compute_metrics, sampled_negatives, teacher_scores,
        wide_scores).items()}

  def call(
      self,
      query_embeddings: tf.Tensor,
      item_embeddings: tf.Tensor,
      tower_scores: Optional[tf.Tensor],
      transformer_scores: Optional[tf.Tensor],
      labels: Optional[tf.Tensor],
      mask: Optional[tf.Tensor],
      candidate_sampling_probability: Optional[tf.Tensor] = None,
      candidate_ids: Optional[tf.Tensor] = None,
      compute_metrics: bool = True,
      sampled_negatives: Optional[Mapping[str, tf.Tensor]] = None,
      teacher_scores: Optional[tf.Tensor] = None,
      wide_scores: Optional[Sequence[tf.Tensor]] = None,
  ) -> tf.Tensor:
    """Returns the weighted total loss and updates the per-term metrics.

    Under a `tf.distribute` strategy each replica returns its share of the
    mean over the global batch (`tf.nn.compute_average_loss`), so that the
    summed gradients equal those of one process on the whole batch, and the
    retrieval softmax runs over the positives of every replica (gathered,
    the replica's own first), as it would in one process.

    Args:
      query_embeddings: `[B, d]` query tower outputs.
      item_embeddings: `[B, d]` item tower outputs of each query's positive;
        the other rows are its in-batch negatives.
      tower_scores: `[B, L]` two-tower scores of the candidate list; None
        (with the next three) when the task does not `needs_lists`.
      transformer_scores: `[B, L]` transformer scores of the same list.
      labels: `[B, L]` graded labels (> 0 relevant).
      mask: `[B, L]` bool, True for real slots.
      candidate_sampling_probability: `[B]` sampling probability of each
        positive, for the log-Q correction.
      candidate_ids: `[B]` ids of the positives, for accidental-hit removal.
      compute_metrics: update the retrieval metrics (off in training).
      sampled_negatives: catalogue-wide negatives for the retrieval softmax
        (`tfrs_ltttd.lists.negatives`), beside the in-batch ones: a dict of
        `"embeddings"` `[S, d]`, `"ids"` `[S]`, `"probability"` `[S]` (the
        sampler's law q), `"batch_probability"` `[S]` (the in-batch law p)
        and `"positive_probability"` `[B]` (q of each positive). Every
        candidate's logit is then corrected by `log(B p + S q)`, its expected
        count among the step's candidates; `candidate_sampling_probability`
        must be given.
      teacher_scores: `[B, L]` the distillation teacher's scores of the
        list; None: `transformer_scores` (a teacher ensemble passes, e.g.,
        the transformer's scores plus an item-item model's).
      wide_scores: with `wide_distillation`, `(teacher [B, M], student
        [B, M], mask [B, M])` over the wider set of each list's query.

    The lists may come from other queries than the retrieval pairs (two
    streams, `tfrs_ltttd.lists.make_joint_dataset`): each term is
    averaged over its own batch.

    Returns:
      The scalar total loss.
    """
    per_query = self._per_query(
        query_embeddings, item_embeddings, tower_scores, transformer_scores,
        labels, mask, candidate_sampling_probability, candidate_ids,
        compute_metrics, sampled_negatives, teacher_scores, wide_scores)
    distillation = self.distillation_weight if self.gamma else 0.0
    weights = {"retrieval_loss": self.alpha, "ranking_loss": self.beta,
               "distillation_loss": distillation,
               "wide_distillation_loss": distillation,
               "reverse_distillation_loss": self.reverse_weight}
    trackers = {"retrieval_loss": self.retrieval_loss_tracker,
                "ranking_loss": self.ranking_loss_tracker,
                "distillation_loss": self.distillation_loss_tracker,
                "reverse_distillation_loss": self.reverse_loss_tracker,
                "wide_distillation_loss": self.wide_loss_tracker}
    # Each replica logs its share of the global-batch mean: Keras sums the
    # replicas' step logs (in one process the share is the plain mean).
    means = {k: tf.nn.compute_average_loss(v) for k, v in per_query.items()}
    updates = [trackers[k].update_state(means[k]) for k in per_query]
    # A zero weight drops its term: no 0 * inf or 0 * nan, no gradient.
    # (The distillation weight is a variable whenever gamma > 0.)
    total = tf.add_n([weights[k] * means[k] for k in per_query
                      if isinstance(weights[k], tf.Variable) or weights[k]]
                     or [tf.constant(0.0)])
    with tf.control_dependencies(updates):
      return tf.identity(total)

  def get_config(self) -> Dict[str, Any]:
    config = super().get_config()
    config.update({
        "alpha": self.alpha,
        "beta": self.beta,
        "gamma": self.gamma,
        "temperature": self.temperature,
        "reverse_weight": self.reverse_weight,
        "wide_distillation": self.wide_distillation,
        "ranking_loss": self.ranking_loss_name,
        "retrieval_temperature": self.retrieval_temperature,
        "remove_accidental_hits": self.remove_accidental_hits,
    })
    return config


def _with_sampled(candidates, probability, ids, positive_q, sampled):
  """In-batch candidates followed by the sampled ones, each with its
  expected count `B p + S q` among them (the mixture's log-Q), divided by
  B + S (a shift of every logit; TFRS clips probabilities at 1)."""
  if probability is None:
    raise ValueError("LTTTDTask: sampled negatives need the in-batch "
                     "sampling probabilities (candidate_sampling_probability)"
                     " for the log-Q correction of the mixture.")
  num_batch = tf.cast(tf.shape(candidates)[0], tf.float32)
  num_sampled = tf.cast(tf.shape(sampled["embeddings"])[0], tf.float32)
  counts = tf.concat([
      num_batch * probability + num_sampled * positive_q,
      num_batch * sampled["batch_probability"]
      + num_sampled * sampled["probability"]], 0) / (num_batch + num_sampled)
  candidates = tf.concat([candidates, sampled["embeddings"]], 0)
  if ids is not None:
    ids = tf.concat([ids, tf.cast(sampled["ids"], ids.dtype)], 0)
  return candidates, counts, ids
