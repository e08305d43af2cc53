"""Learning from served traffic: shadow answers, grading into outcome rows, refit and guarded promotion.

- ``judge``: a model grades answers against a documented rubric when no gold answer is known.
"""
