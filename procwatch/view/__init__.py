"""Presentation without Textual: row facts, cell widths and the poller thread. May use rich, never Textual."""
