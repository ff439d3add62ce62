"""The files under data/ are fixtures, not tests (make_fixture.py runs with the old package)."""

collect_ignore_glob = ["data/*"]
