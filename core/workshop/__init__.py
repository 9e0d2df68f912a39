"""Workshops: settings in links (links, setting_text), a run's key for its starter's address (run_keys), and
lessons (lessons, read and checked by lesson_checker)."""
