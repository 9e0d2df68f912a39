"""The parts the page scripts share: canvas, charts, views, session state, formatting, the job registry.

Parts never import page scripts (an import-linter contract, .importlinter); pages/ itself holds only
the scripts that app.PAGES routes to.
"""
