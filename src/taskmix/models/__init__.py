"""Backbone encoder, feature cache, task heads and the hard-sharing multi-task model."""
