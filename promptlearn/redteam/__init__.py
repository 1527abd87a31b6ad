"""Red-teaming: text attacks on queries (:mod:`.attacks`), the concept check's detection rates
(:mod:`.detection`) and the ``promptlearn redteam`` run (:mod:`.run`)."""
