"""procwatch: a live process-state monitor for the terminal."""

__version__ = "0.1.0"
