"""hopper-operator: Hopper instances as declarative Kubernetes resources."""
