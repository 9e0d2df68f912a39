"""Workshops: settings in links (links, setting_text) and lessons (lessons, read and checked by lesson_checker)."""
