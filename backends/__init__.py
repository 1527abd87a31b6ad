"""LLM backends, one module per backend (installed as ``promptlearn.backends``).

Each module translates :class:`promptlearn.llm.Request` objects to one provider or engine and
its answers back to :class:`promptlearn.llm.Completion`; nothing else in promptlearn knows a
provider's wire format. Heavy imports (litellm, torch, vllm) happen inside the modules, so
importing this package is cheap.
"""
