"""Textual widgets and screens."""
