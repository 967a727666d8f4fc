"""Pure rules of hopper-operator: no Kopf, no Kubernetes client, no I/O."""
