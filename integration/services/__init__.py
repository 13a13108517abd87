"""Use cases: one verb-named function each, load -> check -> change -> record -> commit."""
