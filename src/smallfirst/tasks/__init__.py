"""Labelled task sets: how each task type asks its question, and how its answers are graded.

A task item is a prompt (as chat messages) with a gold answer and a task type. The same items feed
`smallfirst collect` (outcome data for routers), the demo workload, and grading of logged answers.
"""

from smallfirst.tasks.items import TaskItem, load_items, save_items

__all__ = ["TaskItem", "load_items", "save_items"]
