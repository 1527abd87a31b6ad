"""A stand-in for the ORES task in the text-stage tests (no MiniLM): a rewrite avoids the concept
when it lacks the concept word (score 0.5, similarity 0.5), else it scores 0.
``from _word_task import WordTask``."""

from __future__ import annotations


class WordTask:
    name = "word"

    def check_example(self, row):
        pass

    class scorer:
        @staticmethod
        def score(rows, predictions):
            from promptlearn.tasks.base import Score

            out = []
            for row, text in zip(rows, predictions):
                avoided = row.inputs["concept"] not in text
                out.append(Score(0.5 if avoided else 0.0, {"avoided": avoided, "similarity": 0.5}))
            return out
