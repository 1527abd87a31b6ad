"""Responsible visual synthesis: diffusion sampling with the two-stage prompt intervention,
output filters, adapters for other diffusers pipelines and tiny random-weight test checkpoints.

Submodules are imported where they are used; nothing heavy is loaded by importing this package."""
