"""Training: the trainer, task samplers, loss weighting, and STL/MTL experiments."""
