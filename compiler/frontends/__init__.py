"""Frontends: each turns one kind of input into IR assets and checks."""
