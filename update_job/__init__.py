"""update-job: publish a job's status update to the jobs database's SNS topic."""

from update_job.startup import skip_collections_at_exit, skip_plugin_discovery_if_none_installed

__version__ = "0.1.0"

# Every run is a short-lived process: see update_job/startup.py.
skip_plugin_discovery_if_none_installed()
skip_collections_at_exit()
