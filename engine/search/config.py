"""Search configuration: one typed, validated set of settings for every search method (YAML or CLI flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from treediff.engine.configfile import load_config, validated

RewriteMode = Literal["subtree", "suffix", "both"]
"""What an AR rewrite keeps: the node's new subtree, the whole continuation after its prefix, or both."""
RewriteSites = Literal["uniform", "denoiser", "surprise"]
"""Where AR rewrites go: uniformly drawn nodes, the nodes the denoiser chose for its own edits, or nodes drawn
where the AR model reads the program least like the target."""
LocalOrder = Literal["random", "ar"]
"""Which local edits a beam program gets: drawn at random, or mostly those the AR model reads best."""
RoundOrder = Literal["proposed", "read"]
"""In which order a beam round's new programs are executed: as proposed, or the ones the AR model reads best first."""
SampleOrder = Literal["sampled", "likely"]
"""In which order AR start programs are executed: as sampled, or the most likely first."""


def ar_settings(ar_edits: int = 0, local_order: str = "random", ar_filter: int = 1,
                round_order: str = "proposed", read_slots: int = 0, read_mix: float = 0.0,
                wrap_fills: int = 0) -> list[str]:
    """Which of these beam settings need the AR model (subtree rewrites, AR-ordered local edits, filtering,
    execution order, beam places or ranking by reading), each as ``name value`` for messages; empty: none."""
    named = [(ar_edits > 0, f"ar_edits {ar_edits!r}"), (local_order == "ar", "local_order 'ar'"),
             (ar_filter > 1, f"ar_filter {ar_filter!r}"), (round_order == "read", "round_order 'read'"),
             (read_slots > 0, f"read_slots {read_slots!r}"), (read_mix > 0, f"read_mix {read_mix!r}"),
             (wrap_fills > 0, f"wrap_fills {wrap_fills!r}")]
    return [text for on, text in named if on]


def beam_needs_ar(ar_edits: int = 0, local_order: str = "random", ar_filter: int = 1,
                  round_order: str = "proposed", read_slots: int = 0, read_mix: float = 0.0,
                  wrap_fills: int = 0) -> bool:
    """Whether beam search with these settings needs the AR model (see :func:`ar_settings`)."""
    return bool(ar_settings(ar_edits, local_order, ar_filter, round_order, read_slots, read_mix, wrap_fills))


class BeamConfig(BaseModel):
    """Beam search (:func:`treediff.engine.search.beam.beam_search`)."""

    model_config = ConfigDict(extra="forbid")

    beam_width: int = Field(default=4, ge=1, description="Programs kept between rounds.")
    expansions: int = Field(default=8, ge=1, description="Denoiser edits sampled per beam program and round.")
    temperature: float = Field(default=0.7, gt=0, description="Sampling temperature of the denoiser's edits "
                               "(0.7 solved more than 1.0 in both domains; bench/results/search-levers-*.md).")
    mix: float = Field(default=1.0, ge=0, le=1, description="Ranking: 0 = value network only, 1 = executed distance "
                       "only, between = weighted sum of both ranks.")
    local: int = Field(default=2, ge=0, description="Best beam programs that also get local edits (leaf steps, "
                       "hoists) each round.")
    local_samples: int = Field(default=64, ge=1, description="Local edits tried per such program and round.")
    local_step: int = Field(default=1, ge=1, description="Largest change of an integer leaf in a local edit "
                            "(+-1 .. +-local_step).")
    line_steps: int = Field(default=0, ge=0, description="When one integer leaf step made a child better than its "
                            "parent, step that leaf on in the same direction within the round while it keeps "
                            "improving, at most this many more steps (0: off).")
    local_pairs: bool = Field(default=False, description="When a program's single-leaf steps are used up, its local "
                              "edits go on with steps of two leaves of one node at once.")
    field_pairs: bool = Field(default=False, description="Local edits also step two integer leaves of one field in "
                              "different nodes at once (the gaps of two nested layouts, which compensate each "
                              "other where single steps do not).")
    local_wraps: int = Field(default=0, ge=0, description="Node wraps added to each local program's edits per "
                             "round: a node put inside a new parent of its nonterminal beside the grammar's "
                             "minimal subtrees (the inverse of a hoist), chosen like the other local edits; 0: "
                             "none.")
    wrap_fills: int = Field(default=0, ge=0, description="Node wraps per local program and round whose empty "
                            "slot the AR model writes (a new part beside an existing one, from the program's own "
                            "prefix), chosen like local_wraps among the rest (needs an AR model; 0: none).")
    local_swaps: bool = Field(default=True, description="Local edits also swap a node's production for another of "
                              "its nonterminal that keeps its children and leaves ((+ a b) -> (- a b)).")
    local_order: LocalOrder = Field(default="random", description="Which local edits are tried: drawn at random, or "
                                    "(ar: needs an AR model) three quarters of them the leaf steps and swaps whose "
                                    "program the AR model finds most likely given the target, the rest at random.")
    ar_filter: int = Field(default=1, ge=1, description="Sample this many times the denoiser's edits and the AR "
                           "rewrites and execute, of each, the 1/ar_filter whose program the AR model finds most "
                           "likely given the target (needs an AR model; 1: execute all, no filter).")
    round_order: RoundOrder = Field(default="proposed", description="In which order each round's new programs are "
                                    "executed: as proposed (the denoiser's edits, the AR rewrites, the local "
                                    "edits), or (read: needs an AR model) the ones whose program the AR model finds "
                                    "most likely given the target first, so that a budget ending mid-round spends "
                                    "its last calls on the likeliest.")
    opening: int = Field(default=0, ge=0, description="The first round executes at most this many of its new "
                         "programs (the first in execution order, see round_order), each later round twice as many "
                         "as the one before, until a round runs all of them, so that a small budget takes several "
                         "short steps; 0: every round executes all of its new programs.")
    read_slots: int = Field(default=0, ge=0, description="Beam places given to the candidates the AR model reads "
                            "best (its log-probability of the program given the target) among those the ranking "
                            "left out (needs an AR model; 0: none).")
    read_mix: float = Field(default=0.0, ge=0, le=1, description="Weight of the AR model's reading in the beam's "
                            "ranking (its rank by log-probability of the program given the target) against the "
                            "rank by `mix` of distance and value (needs an AR model when > 0; 0: not read).")
    keep_parents: bool = Field(default=True, description="Choose the next beam from parents and children together.")
    patience: int = Field(default=30, ge=1, description="Rounds without a better beam before restarting.")
    restart: Literal["start", "next", "random", "kick"] = Field(default="start", description="Where a stuck beam "
                                                                "restarts: its start programs again (the denoiser "
                                                                "samples new paths from them), the next beam_width of "
                                                                "its start programs in turn (e.g. ranked AR samples), "
                                                                "fresh random programs, or the best program found "
                                                                "with `kick` random subtree mutations.")
    kick: int = Field(default=2, ge=1, description="Random subtree mutations of the best program per restart "
                      "program (restart: kick).")
    expand_limit: int = Field(default=0, ge=0, description="Best-first: each program is a beam parent for at most "
                              "this many rounds, and the beam is chosen from every program executed since the last "
                              "restart; 0 = from this round's children and the beam only.")
    diverse: int = Field(default=0, ge=0, description="At most this many beam programs share a skeleton (the tree "
                         "without its leaf values) while other skeletons are left; 0 = no limit.")
    per_position: int = Field(default=1, ge=1, description="Replacements the denoiser decodes at each position it "
                              "samples (expansions / per_position positions per program).")
    value_slots: int = Field(default=0, ge=0, description="Beam places given to the value network's best "
                             "candidates among those the ranking left out (0: none).")
    ar_edits: int = Field(default=0, ge=0, description="Subtree rewrites per round written by the AR model from "
                          "each beam program's own prefix (needs an AR model; 0: none).")
    ar_rewrite: RewriteMode = Field(default="subtree", description="What an AR rewrite keeps: the node's new "
                                    "subtree (the rest of the program stays), the whole continuation after the "
                                    "node's prefix (the parts after it are rewritten too), or both, as two "
                                    "proposals of one decode.")
    ar_sites: RewriteSites = Field(default="uniform", description="Where the AR rewrites go: nodes drawn "
                                   "uniformly, the nodes the denoiser chose for its edits of the same program "
                                   "this round, or nodes drawn where the AR model reads the program as least "
                                   "like the target (surprise: the probability it would write other tokens "
                                   "for the node, mixed with the uniform draw at `ar_site_floor`).")
    ar_site_floor: float = Field(default=0.5, ge=0, le=1, description="With ar_sites: surprise, the share of "
                                 "the uniform draw in the sites' distribution.")
    ar_edit_temperature: float | None = Field(default=None, gt=0, description="Sampling temperature of the AR "
                                              "rewrites; None: the beam's `temperature`.")
    value_resolution: float = Field(default=0.1, ge=0, description="Value estimates are rounded to this step.")
    max_primitives: int | None = Field(default=None, ge=1, description="Largest replacement; None: the model's "
                                       "sigma_small.")

    @property
    def uses_ar(self) -> bool:
        """Whether this beam search needs the AR model (subtree rewrites, AR-ordered local edits, filtering,
        execution order, beam places or ranking by reading)."""
        return beam_needs_ar(self.ar_edits, self.local_order, self.ar_filter, self.round_order, self.read_slots,
                             self.read_mix, self.wrap_fills)

    @model_validator(mode="after")
    def _slots_fit(self) -> BeamConfig:
        if self.value_slots + self.read_slots >= self.beam_width:
            raise ValueError(f"value_slots={self.value_slots} and read_slots={self.read_slots} leave no beam place "
                             f"to the ranking; expected fewer together than beam_width={self.beam_width}")
        return self


class RolloutConfig(BaseModel):
    """Denoiser rollouts (:func:`treediff.engine.search.rollout.rollout_search`)."""

    model_config = ConfigDict(extra="forbid")

    parallel: int = Field(default=8, ge=1, description="Rollouts advanced together.")
    max_steps: int = Field(default=12, ge=1, description="Edits per rollout before it restarts.")
    greedy: bool = Field(default=True, description="Take the most probable unvisited of `samples` edits.")
    samples: int = Field(default=4, ge=1)
    temperature: float = Field(default=1.0, gt=0)
    max_primitives: int | None = Field(default=None, ge=1)


class MutationConfig(BaseModel):
    """Model-free mutation search (:func:`treediff.engine.search.baselines.mutation_search`)."""

    model_config = ConfigDict(extra="forbid")

    schedule: Literal["anneal", "hill"] = Field(default="anneal", description="Simulated annealing or hill climbing.")
    batch: int = Field(default=8, ge=1, description="Mutants executed per round.")
    temperature: float = Field(default=0.05, ge=0, description="Initial annealing temperature (x start distance).")
    patience: int = Field(default=30, ge=1, description="Rounds without a new best before a restart.")
    sigma_small: int = Field(default=2, ge=1, description="Largest primitive count of a mutated subtree.")


class SearchConfig(BaseModel):
    """Everything a solve needs besides the target, the budget and the models; every field has a default.

    ``start`` is where beam search and rollouts begin: the grammar's ``minimal`` program, ``random``
    derivations, or programs sampled from the autoregressive model (``ar``, which needs an AR checkpoint).
    """

    model_config = ConfigDict(extra="forbid", title="treediff search config")

    start: Literal["minimal", "random", "ar"] = Field(default="minimal", description="Start programs of beam search "
                                                      "and rollouts.")
    ar_samples: int = Field(default=64, ge=1, description="With start: ar, whole programs sampled from the AR model "
                            "per solve; every distinct one is executed (counted as a renderer call) and the search "
                            "starts from the best of them.")
    ar_pool: int = Field(default=0, ge=0, description="With start: ar, draw this many programs from the AR model "
                         "(model time, not renderer calls) and run ar_samples of them chosen by a vote on their "
                         "structure: one program per skeleton, the skeletons drawn most often first, each by its "
                         "likeliest program. 0 (or at most ar_samples): run the ar_samples programs drawn.")
    ar_temperature: float = Field(default=1.0, gt=0, description="With start: ar, the sampling temperature of the "
                                  "AR model's programs (below 1: nearer its most likely reading of the target).")
    ar_order: SampleOrder = Field(default="sampled", description="With start: ar, in which order the sampled "
                                  "programs are executed: as sampled, or the most likely (by their sampling "
                                  "log-probability) first, so that a small budget runs the likeliest.")
    repeats: Literal["key", "tree"] = Field(default="key", description="Which programs every method treats as "
                                            "already executed: those with the observation key of an executed one "
                                            "(the domain's observation_key: programs that draw the same), not "
                                            "executed and costing no renderer call; or only the same tree. "
                                            "Domains without a key use the tree either way.")
    beam: BeamConfig = Field(default_factory=BeamConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    mutation: MutationConfig = Field(default_factory=MutationConfig)

    def with_overrides(self, section: str, **flags: Any) -> SearchConfig:
        """A copy with every non-None flag applied to ``section`` ("beam", ...) or, for "", to the top level."""
        data = self.model_dump()
        target = data if not section else data[section]
        target.update({k: v for k, v in flags.items() if v is not None})
        return validated(SearchConfig, data, "search")


def load_search_config(path: str | Path) -> SearchConfig:
    """Read a search config YAML; every problem is one located line in an InputError."""
    return load_config(SearchConfig, path, "search config", "e.g. `beam: {beam_width: 4}`")
