"""What trained weights mean (numpy only): metrics (WᵀW, norms, D*, superposition), phases of n=2
models, D* convergence, seed agreement, the exact n=2 ReLU reference, and published curves to hold
runs against. SCIENCE.md defines every quantity computed here."""
