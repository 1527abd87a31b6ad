"""Responsible visual synthesis: diffusion sampling with the two-stage prompt intervention (TIN) and
its baselines (black list, negative prompt, SLD, FABRIC feedback), output filters, adapters for
other diffusers pipelines and tiny random-weight test checkpoints.

Submodules are imported where they are used; nothing heavy is loaded by importing this package."""
