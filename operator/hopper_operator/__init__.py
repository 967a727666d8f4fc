"""hopper-operator: Hopper instances as declarative Kubernetes resources."""

GROUP = "hopper.dev"
VERSION = "v1alpha1"
KIND = "HopperInstance"
PLURAL = "hopperinstances"
