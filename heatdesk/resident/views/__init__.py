"""Resident pages: thin views that parse, authorize, call one service or selector, and render."""
