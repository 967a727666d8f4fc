"""Closed vocabularies of the API: scopes, states, phases, condition types and reasons."""

from enum import StrEnum


class Scope(StrEnum):
    FEDERATED = "FEDERATED"
    GLOBAL = "GLOBAL"
    PROJECT = "PROJECT"
    PERSONAL = "PERSONAL"
    FAMILY = "FAMILY"
    EVENT = "EVENT"
    ORCHESTRATION = "ORCHESTRATION"


class DesiredState(StrEnum):
    """What a user may ask for in spec.state, ordered Running > Paused > Stopped > Terminated."""

    RUNNING = "Running"
    PAUSED = "Paused"
    STOPPED = "Stopped"
    TERMINATED = "Terminated"


class Phase(StrEnum):
    CREATED = "Created"
    STARTING = "Starting"
    RUNNING = "Running"
    PAUSED = "Paused"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    ERROR = "Error"
    TERMINATED = "Terminated"


class InstanceType(StrEnum):
    PERSISTENT = "Persistent"
    EPHEMERAL = "Ephemeral"
    TEMPORARY = "Temporary"


class ConditionType(StrEnum):
    READY = "Ready"
    PARENT_READY = "ParentReady"
    WORKLOAD_AVAILABLE = "WorkloadAvailable"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"


class Reason(StrEnum):
    """Machine-readable reasons on conditions (CamelCase, as Kubernetes expects).

    Transition Events take the phase entered as their reason; Stalled ones, these.
    """

    RECONCILED = "Reconciled"
    WALKING = "Walking"  # on its way through the lifecycle, one legal step at a time
    INVALID_SPEC = "InvalidSpec"
    DELETING = "Deleting"
    ROOT_INSTANCE = "RootInstance"
    PARENT_READY = "ParentReady"
    PARENT_NOT_FOUND = "ParentNotFound"
    PARENT_NOT_RUNNING = "ParentNotRunning"
    PARENT_SCOPE_INVALID = "ParentScopeInvalid"
    CONFIG_TOO_LARGE = "ConfigTooLarge"
    NO_DEPLOYMENT = "NoDeployment"
    DEPLOYMENT_AVAILABLE = "DeploymentAvailable"
    DEPLOYMENT_PROGRESSING = "DeploymentProgressing"
    DEPLOYMENT_FAILED = "DeploymentFailed"
    SCALED_TO_ZERO = "ScaledToZero"


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"
