"""Evaluation and reports: the eval harness over targets x methods, its curves and summary, HTML solve reports."""
