"""Syntax trees and what is done to them: derivations, noise, edit distance, tokens."""
