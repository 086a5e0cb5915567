"""Run history: the DynamoDB run store, the status-change recorder and the reconciler."""
