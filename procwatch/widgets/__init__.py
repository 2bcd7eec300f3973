"""Textual widgets. Everything below procwatch.widgets and procwatch.app may import Textual; nothing else may."""
