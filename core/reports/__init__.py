"""Run reports to share: one self-contained HTML file per model or sweep."""
