"""promptlearn: learn LLM instructions and use them for responsible visual synthesis."""

__version__ = "0.1.0"
