"""Scripts that build the shipped model zoo in `model/` (reproducible, resumable, logged).

Not imported by the plugin at run time: the plugin only reads the artefacts.
"""
