"""The synthesis layer: Stable Diffusion sampling with interventions (TIN's second stage and its
baselines), over components loaded once. Import the submodules you need; nothing heavy is
imported here."""
