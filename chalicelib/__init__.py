"""jobctl: scheduled ECS jobs declared in jobs.yaml.

Everything the Lambda functions import lives under this package; only `chalicelib.aws`
creates boto3 clients.
"""
