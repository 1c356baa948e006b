"""Word lists and templates of the built-in classification datasets, one YAML file per dataset.

Package data only: `saeeval.data.builtin_classification` reads the files with
`importlib.resources`.
"""
