"""Developer tools, kept outside the installed package: they need the dev dependencies
(requirements-dev.txt) and are run from a checkout, e.g. `python devtools/s3server.py`."""
