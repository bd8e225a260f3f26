"""The blog's own words, paraphrased: what "The Effect of Activation Functions On Superposition in
Toy Models" (Lad & Kostolansky, 2023) says about each figure, keyed by the engine's claim ids
(engine.experiments). The engine measures; this prose is what the report sets beside it.
"""

from __future__ import annotations

from pathlib import Path

# The numbers the blog states in its text about its D* plot, with where each comes from: the
# example reference file (engine.science.reference_curves), overlaid and scored by `reproduce`.
DIMS_REFERENCE = Path(__file__).with_name("references") / "blog_dims_text.json"


def dims_reference():
    from engine.science.reference_curves import load_reference

    return load_reference(DIMS_REFERENCE)

TITLE = "The Effect of Activation Functions on Superposition"

# What the blog says, by claim id. A claim without an entry is ours (e.g. correlated features,
# which the blog does not study).
CLAIMS = {
    "sparsity.linear_keeps_top_m": "A linear model can only represent the top m features and discards the others (no superposition).",
    "sparsity.relu_superposes_when_sparse": "ReLU focuses on the most significant features at low sparsity (monosemantic) and relies on "
                                            "superposition at high sparsity.",
    "sparsity.relu_antipodal": "ReLU uses antipodal pairs: a light diagonal entry with a dark off-diagonal entry in the same column.",
    "sparsity.gelu_two_per_neuron": "GeLU superposes with increasing sparsity, more 'strictly' than ReLU: at most two features per "
                                    "neuron, one of them dominant; many antipodal pairs.",
    "sparsity.silu_two_per_neuron": "SiLU behaves like GeLU: strict superposition, at most two features per neuron, antipodal pairs.",
    "sparsity.gelu_antipodal": "GeLU: in each polysemantic neuron one feature dominates; there are also many antipodal pairs of "
                               "features, as in the ReLU models.",
    "sparsity.silu_antipodal": "SiLU, like GeLU: one dominant feature per polysemantic neuron and many antipodal pairs.",
    "sparsity.sigmoid_interferes_early": "Sigmoid superposes in all neurons as soon as sparsity is non-zero ('speckled' off-diagonal "
                                         "WᵀW), unlike ReLU/GeLU/SiLU where superposition leaks in gradually.",
    "sparsity.tanh_like_linear": "Tanh prioritises the most important features regardless of sparsity, much like a linear model.",
    "sparsity.solu_interferes_everywhere": "SoLU shows non-zero superposition of all features at every sparsity.",
    "phase.linear_keeps_the_important_feature": "(The blog shows no linear phase diagram; a linear model keeps only the more "
                                                "important feature.)",
    "phase.relu_polysemantic_when_sparse": "Below 1−S = 0.1 ReLU is highly polysemantic for all relative importances; at low "
                                           "sparsity it embeds the more important feature, mirroring Toy Models of Superposition.",
    "phase.relu_matches_exact_reference": "This result mirrors the phase diagram in Toy Models of Superposition, as expected.",
    "phase.gelu_monosemantic_when_sparse": "GeLU is markedly different from ReLU: significant monosemanticity at high sparsity.",
    "phase.silu_monosemantic_when_sparse": "SiLU, like GeLU, stays largely monosemantic at high sparsity.",
    "phase.sigmoid_like_relu": "Sigmoid's phase diagram is very similar to ReLU's: polysemantic below 1−S = 0.1.",
    "phase.tanh_nearly_linear": "Tanh nearly acts linearly (encodes only the more important feature), with some difference along "
                                "the boundary near importance 1.",
    "phase.solu_polysemantic": "SoLU is very polysemantic, yet prefers the more important feature at low sparsity.",
    "dims.only_relu_sticky": "Only ReLU is 'sticky' at D* = 1 and 1/2 (antipodal pairs); none of the other activations shows it.",
    "dims.gelu_silu_alike": "Consistent with the other experiments, SiLU and GeLU perform very similarly.",
    "dims.sigmoid_solu_pack": "The Sigmoid and SoLU activations pack nearly 20 features per dimension at high sparsities.",
    "dims.tanh_like_linear": "Tanh behaves like the linear model, neatly packing one dimension with one feature (its plotted "
                             "curve dips below 1 at density 1).",
    "dims.solu_plotted_curve_is_the_instance_axis": "(The blog's plotted SoLU curve, about 0.54 at density 1: its text "
                                                    "defines the softmax over a sample's features.)",
    "dims.dstar_falls_with_sparsity": "Increases in sparsity result in increases in polysemanticity: the dimensions per feature "
                                      "decrease (the plotted tanh curve rises from its dip at density 1 to 1).",
}

INPUT_BATCHES = ("Changing the sparsity changes the feature density: at S=0.5 about half of the entries are non-zero, "
                 "at S=0.99 about 1%.")

SECTIONS = {
    "sparsity": "Experiment 1: WᵀW and neuron-feature weights across sparsity",
    "phase": "Experiment 2: phase diagrams (n=2, m=1)",
    "dims": "Experiment 3: dimensions per feature (uniform importance)",
    "correlated": "Beyond the blog: correlated and anticorrelated features",
}

# What the blog's phase diagrams show, against this report's: the blog names no seeds (one
# model per grid point, as far as its text says); the report's winner is the lowest-loss seed.
ONE_MODEL_PER_POINT = (
    "The blog's text names no seeds: its diagrams show one trained model per grid point. This report's diagrams "
    "show the lowest-loss of several seeds per point, as Toy Models of Superposition do; where a point's seeds "
    "settle in different minima the two can disagree."
)

CORRELATED_INTRO = (
    "The blog studies independent features only. Toy Models of Superposition (and ARENA's exercises) add feature pairs: "
    "a correlated pair is present together with probability p, an anticorrelated pair has exactly one of its two "
    "features present, with probability 2p. For ReLU the known geometry is: anticorrelated partners settle antipodal, "
    "since they never need their two directions at once; correlated partners prefer orthogonal directions, and "
    "collapse onto one shared direction when there is no room. Here every activation is trained on both kinds."
)
