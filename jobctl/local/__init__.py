"""The local platform: jobctl on moto, with no AWS account."""
