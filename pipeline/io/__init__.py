"""Reading the inbox: `read` (files, headers, rows), `columnar` (big ledgers as columns),
`sandbox` (the worker processes that read untrusted files)."""

# What a reading worker needs imported, preloaded once in the sandbox's forkserver (`read.py`;
# `cli.py` starts it early, beside its own imports).
READING_MODULES = ("pipeline.io.read", "pipeline.io.columnar", "python_calamine", "fastexcel", "pyarrow.compute")
