"""The engine: collection, STAT, lineage, tree and words. Standard library only (checked by tests)."""
