"""Broker users per role, least privilege: permissions.py holds the patterns; rabbitmqctl.py
creates users for development and tests; manifests.py the Kubernetes objects."""
