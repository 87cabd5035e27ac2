"""Deployment: the local stack and deployment examples."""
