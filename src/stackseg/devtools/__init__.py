"""Developer tools (not used by the pipeline): e.g. a loopback S3 server for `dvc push`."""
