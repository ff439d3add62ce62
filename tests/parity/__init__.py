"""The predecessor libraries' documented examples, ported by renaming the import only."""
