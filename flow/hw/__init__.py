"""Hardware back end: tool lookup, memory files for the templates, stream simulation."""
