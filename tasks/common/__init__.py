"""Glue shared by the task heads: configs, and (later) trainer, vocabulary and batching."""
