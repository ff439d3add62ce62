"""The engine: tasks, the three front doors (``Workflow``, ``DAG``, ``Flow``) and the run path.

Its modules are imported one by one (``ferroflow.engine.tasks``, ...); the public
names are also importable from :mod:`ferroflow`.
"""
