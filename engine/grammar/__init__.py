"""Grammars: the YAML format, located loading and errors, compilation, checks, validation, parsing, JSON Schemas."""
