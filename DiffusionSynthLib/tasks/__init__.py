"""The four jobs; each is prepare -> sample -> finish around the shared engine."""
