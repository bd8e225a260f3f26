"""The training maths: activations, the data sampler's hash, the model, its hand-written gradient,
the fused training step and the loop that runs it (train.py), compiling it alongside (compile_step),
memory sizing and devices. Plain PyTorch; nothing here knows about the store or the queue."""
