"""The one async Kubernetes client wrapper: REST verbs in, plain dicts and domain errors out."""
