"""rq jobs: importable functions that take ids and are safe to run twice."""
