"""The distillation methods: KPOD, its Table 2 ablations and the plain CoT baseline, in one table.

Each method is four switches, one per KPOD component (Feng et al., ICML 2024, Table 2):

=============  =============  =======================  =============  =================
method         token weights  step difficulty (Eq. 8)  diversity      progressive c_i
               (Eq. 15)                                (β, Eq. 12)    (Eq. 14)
=============  =============  =======================  =============  =================
kpod           w_j            weighted by softmax(w)   β              schedule
w.o.-sig       all 1          weighted                 β              schedule
w.o.-sig-dif   w_j            unweighted mean NLL      β              schedule
w.o.-div       w_j            weighted                 0              schedule
w.o.-prog      w_j            --                       --             c_i = 0 always
plain-cot      all 1          --                       --             c_i = 0 always
=============  =============  =======================  =============  =================

plain-cot is Fine-tune-CoT (Ho et al., 2023): Eq. 1, every token counting the same, whole
rationales from the first epoch. Every stage reads what it builds from this table (the
config's `method`), and the pipeline derives from it which weight, difficulty and schedule
files a set of methods needs (`Method.weights_file`, `.difficulty_file`, `.schedule_file`).

Three more rows are ours, diagnostic arms that locate a failure of KPOD (`ARMS`);
each is KPOD with one thing changed:

=============  ========================================================================
kpod-oracle    the weights w_j of Eq. 8 and 15 are the synthetic task's labels (1 for a
               keypoint token, 0 for any other): an upper bound for mask learning
kpod-sampled   mask learning's Eq. 5 over `SAMPLED_PREFIXES` prefixes k drawn uniformly
               from 1..n for each rationale at each step (an unbiased estimate of the mean
               over all k), not over the step ends only (`prefix_mode` "steps")
kpod-equal     T more epochs (Eq. 14's stages come first), so it writes whole rationales
               for as many epochs as plain-cot does
=============  ========================================================================

Two more are controls for a confound of Eq. 15 (`CONTROLS`). With the floor λ and most
non-keypoint weights near 0, the learned w_j shrink the gradient of most target tokens: a
smaller effective learning rate, which alone could change the result. Each control gives
every token the mean of the learned weights (`weighting.uniform_weight_file`), so the loss
is scaled as much on average with no token favoured:

=================  ===================================================================
kpod-uniform       KPOD (its difficulty and schedule) with uniform weights at the mean
w.o.-prog-uniform  KPOD w.o.-prog (whole rationales) with uniform weights at the mean
=================  ===================================================================

With kpod and w.o.-prog they make the 2 x 2 of weights x schedule.

Table 2's last three rows replace KPOD's in-rationale schedule with a curriculum from the
literature (`CURRICULUM_ROWS`, `kpod_lite.curricula`): each keeps the learned token weights of
Eq. 15, trains whole rationales (no c_i(t), no schedule file) and orders or weighs them its way:

=============  ===========================================================================
kpod-acl       Adaptive CL (Kong et al., 2021): each epoch draws from the easiest share of
               the questions by a loss-based difficulty that follows the student
kpod-spl       SPL (Wan et al., 2020): each question's loss scaled by the student's
               Monte Carlo dropout confidence, at every step
kpod-icl       ICL (Jia et al., 2023): the student completes each rationale from a given
               prefix whose share falls from 0.6 to 0
=============  ===========================================================================

>>> METHODS["kpod-uniform"].schedule_file, METHODS["kpod-uniform"].weights_file
('schedule.json', 'weights.uniform.jsonl')
>>> METHODS["w.o.-div"].schedule_file, METHODS["w.o.-sig"].schedule_file, METHODS["plain-cot"].schedule_file
('schedule.w.o.-div.json', 'schedule.json', None)
>>> METHODS["kpod-oracle"].weights_file, METHODS["kpod-oracle"].difficulty_file
('weights.oracle.jsonl', 'difficulty.oracle.jsonl')
>>> METHODS["kpod-icl"].weights_file, METHODS["kpod-icl"].schedule_file, METHODS["kpod-icl"].curriculum
('weights.jsonl', None, 'icl')
"""

from __future__ import annotations

from dataclasses import dataclass

from kpod_lite.errors import ConfigError

__all__ = ["Method", "METHODS", "ABLATIONS", "ARMS", "CONTROLS", "CURRICULUM_ROWS", "SAMPLED_PREFIXES",
           "method_named"]

# kpod-sampled: prefixes k per rationale and step in its Eq. 5 ("a few"; the tiny task's
# rationales end 2.5 steps on average, so this costs mask learning about 1.6x "steps").
SAMPLED_PREFIXES = 4


@dataclass(frozen=True)
class Method:
    """One row of Table 2 (module docstring)."""

    name: str
    row: str  # how the results table names it
    token_weights: bool  # Eq. 15 weights w_j; False: every token 1 (Eq. 1)
    weighted_difficulty: bool  # Eq. 8 with softmax(w); False: the mean NLL of the step
    diversity: bool  # the β term of Eq. 12; False: β = 0
    progressive: bool  # c_i(t) from the schedule (Eq. 14); False: c_i = 0, whole rationales
    weights: str = "learned"  # w_j: "learned" (Eq. 7), "oracle" (the task's labels), "sampled" (Eq. 5 sampled),
    # "uniform" (every token at the learned weights' mean; Eq. 8's difficulty and the schedule stay KPOD's)
    extra_whole_epochs: bool = False  # T more epochs of whole rationales (kpod-equal)
    curriculum: str | None = None  # in place of Eq. 14's schedule: "acl", "spl" or "icl" (kpod_lite.curricula)

    @property
    def weights_file(self) -> str:
        """The run folder's token weights this method reads, for Eq. 8 and Eq. 15."""
        return "weights.jsonl" if self.weights == "learned" else f"weights.{self.weights}.jsonl"

    @property
    def difficulty_weights_file(self) -> str:
        """The token weights Eq. 8 reads for this method's difficulty: its own, except the
        uniform controls, whose difficulty (and schedule) are KPOD's, from the learned weights."""
        return "weights.jsonl" if self.weights == "uniform" else self.weights_file

    @property
    def difficulty_file(self) -> str | None:
        """The run folder's step-difficulty file this method's schedule is built from."""
        if not self.progressive:
            return None
        if not self.weighted_difficulty:
            return "difficulty.w.o.-sig-dif.jsonl"
        return "difficulty.jsonl" if self.weights in ("learned", "uniform") else f"difficulty.{self.weights}.jsonl"

    @property
    def schedule_file(self) -> str | None:
        """The run folder's schedule this method trains with (None: no schedule). Methods
        whose schedules would be built alike share the file (KPOD and w.o.-sig)."""
        if not self.progressive:
            return None
        if self.difficulty_file == "difficulty.jsonl" and self.diversity and not self.extra_whole_epochs:
            return "schedule.json"
        return f"schedule.{self.name}.json"

    def weighting_config(self, cfg):
        """`cfg` as this method's own weights are learned with (Eq. 5-7): kpod-sampled's prefixes
        are `SAMPLED_PREFIXES` drawn uniformly; the learned weights use `cfg` as it is."""
        if self.weights == "sampled":
            return cfg.replace(prefix_mode="sampled", weighting_sampled_prefixes=SAMPLED_PREFIXES)
        return cfg

    def config_for(self, cfg):
        """`cfg` as this method trains with it: its name as `method`, and for kpod-equal T
        more epochs with T itself kept (it would grow with the epochs, App. A), so that the
        schedule built for them ends in as many whole-rationale epochs as `cfg.epochs`."""
        if not self.extra_whole_epochs:
            return cfg.replace(method=self.name)
        return cfg.replace(method=self.name, epochs=cfg.epochs + cfg.stage_T, T=cfg.stage_T)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("plain-cot", "plain CoT distillation (Eq. 1)", token_weights=False, weighted_difficulty=True,
           diversity=True, progressive=False),
    Method("kpod", "KPOD (Eq. 15)", token_weights=True, weighted_difficulty=True, diversity=True, progressive=True),
    Method("w.o.-sig", "KPOD w.o.-sig", token_weights=False, weighted_difficulty=True, diversity=True,
           progressive=True),
    Method("w.o.-sig-dif", "KPOD w.o.-sig-dif", token_weights=True, weighted_difficulty=False, diversity=True,
           progressive=True),
    Method("w.o.-div", "KPOD w.o.-div", token_weights=True, weighted_difficulty=True, diversity=False,
           progressive=True),
    Method("w.o.-prog", "KPOD w.o.-prog", token_weights=True, weighted_difficulty=True, diversity=True,
           progressive=False),
    Method("kpod-oracle", "KPOD, oracle weights (ours)", token_weights=True, weighted_difficulty=True,
           diversity=True, progressive=True, weights="oracle"),
    Method("kpod-sampled", "KPOD, sampled-prefix weights (ours)", token_weights=True, weighted_difficulty=True,
           diversity=True, progressive=True, weights="sampled"),
    Method("kpod-equal", "KPOD, T more epochs (ours)", token_weights=True, weighted_difficulty=True,
           diversity=True, progressive=True, extra_whole_epochs=True),
    Method("kpod-uniform", "KPOD, weights uniform at their mean (ours)", token_weights=True,
           weighted_difficulty=True, diversity=True, progressive=True, weights="uniform"),
    Method("w.o.-prog-uniform", "KPOD w.o.-prog, weights uniform at their mean (ours)", token_weights=True,
           weighted_difficulty=True, diversity=True, progressive=False, weights="uniform"),
    Method("kpod-acl", "KPOD-ACL", token_weights=True, weighted_difficulty=True, diversity=True, progressive=False,
           curriculum="acl"),
    Method("kpod-spl", "KPOD-SPL", token_weights=True, weighted_difficulty=True, diversity=True, progressive=False,
           curriculum="spl"),
    Method("kpod-icl", "KPOD-ICL", token_weights=True, weighted_difficulty=True, diversity=True, progressive=False,
           curriculum="icl"),
)}

# Table 2's variants and the plain CoT baseline, in the table's order.
ABLATIONS = ("plain-cot", "kpod", "w.o.-sig", "w.o.-sig-dif", "w.o.-div", "w.o.-prog")
# The diagnostic arms (module docstring).
ARMS = ("kpod-oracle", "kpod-sampled", "kpod-equal")
# The controls for Eq. 15's scale (module docstring): with the two rows above them, a 2 x 2 of
# weights (learned, uniform at their mean) x schedule (on, off).
CONTROLS = ("kpod-uniform", "w.o.-prog-uniform")
# Table 2's curriculum rows (module docstring): KPOD's weights, another curriculum.
CURRICULUM_ROWS = ("kpod-acl", "kpod-spl", "kpod-icl")


def method_named(name: str) -> Method:
    """The method called `name`; an unknown name is an error that lists the known ones."""
    if name not in METHODS:
        raise ConfigError(f"unknown distillation method {name!r}; choose one of {list(METHODS)}")
    return METHODS[name]
