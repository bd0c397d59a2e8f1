"""Synthetic multi-step word problems whose rationales come with known keypoint labels.

KPOD's first component (§3.3) learns, without any labels, which rationale tokens matter: a
weight generator is trained to mask as many tokens as it can (L_m, Eq. 6) while the answer
can still be derived from the masked rationale (L_p, Eq. 5). On GSM8K the paper can only
*show* that this works, with heat maps (§4.5, Figure 2): digits and operators get the
highest weights, instruction words such as "twice", "total", "adding", "dividing" get high
weights, and words like "can", "say", "got" get low ones. Its introduction (§1) names the
tokens a good weighting should ignore: in "Next, we just need to simply add up the calories
from the lettuce and cucumber: 30 + 80 = 110", the words "just" and "simply" carry no
reasoning, the calculation "30 + 80 = 110" is the keypoint.

This package writes problems where that split is *known*. Each problem is a GSM8K-style
story (shopping, baking, savings, a trip, a farm, a classroom, a library, a garden) whose
2 to 4 arithmetic steps are kept as a small **program**; the rationale is rendered from the
program the way a teacher LLM answers a zero-shot CoT prompt (§3.1), one sentence per step,
with filler words planted at random; and every character of the rationale gets a label.
Because the labels are ground truth, the course can score mask learning with AUROC
(keypoint tokens against the rest) instead of eyeballing a heat map.

For example, ``generate_dataset(8)[7]`` (seed 0)::

    Omar has 7 dollars in a piggy bank. After that, Omar earns 11 more dollars. Omar
    shares them equally among 3 classmates. How many dollars does each classmate get?

    First of all, by adding, it is worth noting that we simply find how many dollars Omar
    has in total: 7 + 11 = 18. Finally, by dividing, we actually find how many dollars
    each classmate gets: 18 / 3 = 6 dollars.

The labels, one per character span (the spans tile the rationale, no gaps, no overlaps):

========== ================================================================= ========
label      what                                                              keypoint
========== ================================================================= ========
number     the digits of an operand: "7" and "11" above                      yes
operator   "+", "-", "*" or "/" of a calculation                             yes
equals     the "=" of a calculation                                          yes
result     the digits of the computed result: "18" above                     yes
quantity   instruction and quantity words (``QUANTITY_WORDS``): "adding"     yes
filler     a planted filler phrase (``FILLER_PHRASES``): "simply", "Okay,"   no
plain      everything else: connecting words, names, units, spaces, ":", "." no
========== ================================================================= ========

A filler span is exactly the planted phrase, with its own punctuation ("Okay,",
"Now, let's see,") and without the space on either side, which stays "plain". Names
("Omar") are plain here although Figure 2 shows them weighted highly: their importance is
real but graded, and this generator only labels what is unambiguous.

The rationale uses "." only at the end of a sentence (no decimals, no abbreviations), so
splitting it on "." as §3.4 does yields exactly one reasoning step per sentence. It does
not end with "Therefore, the answer is ...": the teacher (``kpod_lite.teacher``) appends that.

The program is kept in each record so a teacher can re-render the same reasoning with other
filler choices (``render_rationale`` with another ``random.Random``), and can simulate a
wrong teacher with ``perturb_program``, which plants one arithmetic slip; the answer filter
(Ho et al., 2023, whose collection §3.1 follows) should then drop that rationale.

Regenerate the shipped splits (``data_samples/synthetic``) with::

    python -m kpod_lite.synthetic --out data_samples/synthetic --seed 0 --train 400 --validation 100 --test 100

One module per part: `labels` (the labels and the words behind them, `Span`), `problem`
(`SyntheticConfig`, `SyntheticProblem`), `programs`, `rationale`, `questions` and `splits`;
every public name is importable from here.
"""

from kpod_lite.synthetic.labels import (
    ADVERB_FILLERS,
    FILLER_PHRASES,
    KEYPOINT_LABELS,
    LABELS,
    LEAD_FILLERS,
    OP_GERUNDS,
    OP_VERBS,
    OPENER_FILLERS,
    OPS,
    QUANTITY_WORDS,
    Span,
    spans_from_record,
)
from kpod_lite.synthetic.problem import SyntheticConfig, SyntheticProblem
from kpod_lite.synthetic.programs import apply_op, evaluate_program, perturb_program
from kpod_lite.synthetic.questions import DISTRACTORS, NAMES, RECIPIENTS, SCENARIOS, generate_problem
from kpod_lite.synthetic.rationale import (
    FIRST_CONNECTORS,
    LAST_CONNECTORS,
    MIDDLE_CONNECTORS,
    SENTENCE_FRAMES,
    render_rationale,
)
from kpod_lite.synthetic.splits import DEFAULT_SIZES, generate_dataset, main, write_splits

__all__ = [
    "LABELS",
    "KEYPOINT_LABELS",
    "OPS",
    "OP_VERBS",
    "OP_GERUNDS",
    "QUANTITY_WORDS",
    "OPENER_FILLERS",
    "LEAD_FILLERS",
    "ADVERB_FILLERS",
    "FILLER_PHRASES",
    "Span",
    "spans_from_record",
    "SyntheticConfig",
    "SyntheticProblem",
    "apply_op",
    "evaluate_program",
    "perturb_program",
    "FIRST_CONNECTORS",
    "MIDDLE_CONNECTORS",
    "LAST_CONNECTORS",
    "SENTENCE_FRAMES",
    "render_rationale",
    "SCENARIOS",
    "NAMES",
    "RECIPIENTS",
    "DISTRACTORS",
    "generate_problem",
    "generate_dataset",
    "DEFAULT_SIZES",
    "write_splits",
    "main",
]
