"""Three curricula from the literature in place of KPOD's in-rationale schedule (Table 2).

Table 2 of the paper compares KPOD with KPOD-ACL, KPOD-SPL and KPOD-ICL: "replacing our
in-rationale progressive distillation strategy by Adaptive CL, SPL and ICL" (§4.3). Each
keeps KPOD's token weights (Eq. 15) and trains on whole rationales (no c_i(t) of Eq. 14);
what changes is how the training order or the loss follows difficulty:

===========  ==============================  =============================================
method       cited method                    what it changes here
===========  ==============================  =============================================
kpod-acl     Adaptive CL (Kong et al., 2021)  which questions an epoch draws: the easiest
                                             fraction by a difficulty that starts as the
                                             pre-distillation student's loss and follows
                                             the current student's; plus a KL term to the
                                             pre-distillation student (`acl`)
kpod-spl     SPL (Wan et al., 2020)           how much each question's loss counts: its
                                             confidence under the current student, from
                                             Monte Carlo dropout passes (`spl`)
kpod-icl     ICL (Jia et al., 2023)           which target tokens carry loss: only the last
                                             (1 - p) of each rationale, p falling from 0.6
                                             to 0 (`icl`)
===========  ==============================  =============================================

The settings of each are module constants (the cited papers' or their code's defaults,
adapted where a KPOD run differs, each adaptation said in its module), not config fields:
they are part of what the method is, as Table 2's rows are.
"""

from kpod_lite.curricula.acl import AdaptiveCurriculum, PacedSampler
from kpod_lite.curricula.icl import InSampleCurriculum, completion_ratio, mask_completed_prefix
from kpod_lite.curricula.spl import confidence_row_weights

CURRICULA = ("acl", "spl", "icl")

__all__ = ["CURRICULA", "AdaptiveCurriculum", "PacedSampler", "InSampleCurriculum", "completion_ratio",
           "mask_completed_prefix", "confidence_row_weights"]
