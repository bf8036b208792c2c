"""Corpus acquisition and conversion (registry packages, the hub, distant supervision, a backbone
converted from a package), kept apart from the model library so that it reads on its own."""
