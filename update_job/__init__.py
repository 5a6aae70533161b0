"""update-job: publish a job's status update to the jobs database's SNS topic."""

__version__ = "0.1.0"
