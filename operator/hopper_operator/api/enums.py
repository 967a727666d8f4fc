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
    """Machine-readable reasons on conditions and Events (CamelCase, as Kubernetes expects)."""

    RECONCILED = "Reconciled"
    WALKING = "Walking"
    PARENT_READY = "ParentReady"
    PARENT_NOT_FOUND = "ParentNotFound"
    PARENT_NOT_RUNNING = "ParentNotRunning"
    PARENT_SCOPE_INVALID = "ParentScopeInvalid"
    PARENT_TERMINATED = "ParentTerminated"
    NOT_A_CHILD = "RootInstance"
    WORKLOAD_AVAILABLE = "DeploymentAvailable"
    WORKLOAD_PROGRESSING = "DeploymentProgressing"
    WORKLOAD_FAILED = "DeploymentFailed"
    WORKLOAD_SCALED_DOWN = "ScaledToZero"
    WORKLOAD_ABSENT = "NoDeployment"
    NO_RUNTIME = "NoRuntime"
    CONFIG_TOO_LARGE = "ConfigTooLarge"
    DELETING = "Deleting"
    TRANSITION = "PhaseChanged"
    EXPIRED = "TTLExpired"
    RESTARTING = "Restarting"


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"
