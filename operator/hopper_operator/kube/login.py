"""How this process logs in to the API server: as kubectl and controller-runtime do.

Where the credentials come from, the first that applies (controller-runtime's order):

1. `--kubeconfig PATH`: that file alone;
2. `$KUBECONFIG`: its files, merged as kubectl merges them;
3. in a pod: its ServiceAccount token, and the API server the kubelet names;
4. `~/.kube/config`.

`--context NAME` picks a context other than the current one (and so means a kubeconfig).
A kubeconfig is read by the official `kubernetes` client, loaded only then (see
`official_client`), which knows what Kopf's minimal reader does not: exec credential
plugins (EKS, GKE, AKS), OIDC auth-providers, tokenFile users. The merge itself is ours,
because the client's differs from kubectl's (its last file sets current-context).

Kopf's watches and our writes share one `Credentials`: a credential is fetched once (an
exec plugin runs once) however many clients use it, refreshed shortly before it expires,
and again when the API server answers 401.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import kopf
import yaml

from hopper_operator.kube import official_client

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = "~/.kube/config"
# The names kubectl gives these sections' entries, and the file paths in each that a
# kubeconfig may give relative to itself (client-go's GetClusterFileReferences and
# GetAuthInfoFileReferences).
SECTIONS = {"clusters": "cluster", "users": "user", "contexts": "context"}
FILE_REFERENCES = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}
# A credential is replaced this long before it expires (at most: see refresh_at).
REFRESH_MARGIN = datetime.timedelta(minutes=1)


class KubeconfigError(kopf.LoginError):
    """The kubeconfig cannot be used as asked. The message is kubectl's for the same."""


# A kubeconfig as YAML gives it: no field is trusted to have the type kubectl expects.
Config = Mapping[str, object]


def _mapping(value: object) -> Config:
    return value if isinstance(value, Mapping) else {}


def _entries(config: Config, section: str) -> list[Config]:
    """The named entries of a section (clusters, users, contexts)."""
    listed = config.get(section)
    return (
        [entry for entry in listed if isinstance(entry, Mapping)]
        if isinstance(listed, list)
        else []
    )


@dataclasses.dataclass(frozen=True)
class LoginOptions:
    """`--kubeconfig` and `--context`, as kubectl takes them; None: kubectl's defaults."""

    kubeconfig: str | None = None
    context: str | None = None


def kubeconfig_files(
    options: LoginOptions, environ: Mapping[str, str], *, in_cluster: bool
) -> list[Path] | None:
    """The kubeconfig files to merge, in order; None: log in as the pod's ServiceAccount."""
    if options.kubeconfig:
        return [Path(options.kubeconfig).expanduser()]
    listed = [Path(p).expanduser() for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return listed
    if in_cluster and options.context is None:
        return None
    return [Path(DEFAULT_KUBECONFIG).expanduser()]


def read_kubeconfigs(paths: Sequence[Path], *, explicit: bool) -> list[tuple[Path, Config]]:
    """Each file's content. kubectl skips a listed file that does not exist, unless it was
    named by --kubeconfig."""
    found = []
    for path in paths:
        try:
            text = path.read_text()
        except FileNotFoundError:
            if explicit:
                raise KubeconfigError(f"stat {path}: no such file or directory") from None
            continue
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, Mapping):
            raise KubeconfigError(f"error loading config file {path}: not a kubeconfig")
        found.append((path, loaded))
    return found


def merge(files: Iterable[tuple[Path, Config]]) -> dict[str, object]:
    """kubectl's merge: the first file to name a cluster, user or context wins it whole
    (later files' entries of that name are ignored, even their other fields), the first
    file to set current-context sets it; file paths become absolute against the file that
    gave them, as client-go's ResolveLocalPaths does."""
    sections: dict[str, list[Config]] = {section: [] for section in SECTIONS}
    merged: dict[str, object] = {**sections}
    for path, config in files:
        base = path.parent.absolute()
        if not merged.get("current-context") and config.get("current-context"):
            merged["current-context"] = config["current-context"]
        for section, field in SECTIONS.items():
            known = {entry.get("name") for entry in sections[section]}
            for entry in _entries(config, section):
                if entry.get("name") not in known:
                    sections[section].append(_resolved(field, entry, base))
                    known.add(entry.get("name"))
    return merged


def _resolved(field: str, entry: Config, base: Path) -> dict[str, object]:
    body = copy.deepcopy(dict(_mapping(entry.get(field))))
    for key in FILE_REFERENCES.get(field, ()):
        if body.get(key):
            body[key] = str(base / str(body[key]))  # an absolute path stays as it is
    plugin = _mapping(body.get("exec")) if field == "user" else {}
    command = plugin.get("command")
    if isinstance(command, str) and os.sep in command:  # a bare name is looked up on PATH
        body["exec"] = {**plugin, "command": str(base / command)}
    return {**entry, field: body}


def context_name(config: Config, wanted: str | None) -> str:
    """The context to use: `wanted`, else the current one, in kubectl's words if absent."""
    name = wanted or config.get("current-context")
    if not name:
        if not any(config.get(section) for section in SECTIONS):
            raise KubeconfigError("invalid configuration: no configuration has been provided")
        raise KubeconfigError("Error in configuration: context was not specified")
    if not any(entry.get("name") == name for entry in _entries(config, "contexts")):
        raise KubeconfigError(
            f"Error in configuration: context was not found for specified context: {name}"
        )
    return str(name)


def refresh_at(
    expiry: datetime.datetime | None, now: datetime.datetime
) -> datetime.datetime | None:
    """When to replace a credential that expires at `expiry`: a fifth of its remaining
    life early, at most REFRESH_MARGIN, so requests never carry an expired one. A plugin
    that hands out the same cached token again is asked again nearer its end, then at it.
    """
    if expiry is None:
        return None
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=datetime.UTC)
    early = min(REFRESH_MARGIN, (expiry - now) / 5)
    return expiry - early if early >= datetime.timedelta(seconds=1) else expiry


def in_cluster_server(environ: Mapping[str, str]) -> str | None:
    """The API server as the kubelet announces it to every pod, as client-go reads it.

    Kopf's in-cluster login names https://kubernetes.default.svc, which needs the
    cluster's DNS; these variables need nothing (and DNS may be down, or absent).
    """
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def service_account_login(environ: Mapping[str, str], directory: Path) -> kopf.ConnectionInfo:
    """The pod's ServiceAccount: its token (read again at every login, since the kubelet
    rotates it), its CA and namespace."""
    ca, namespace = directory / "ca.crt", directory / "namespace"
    return kopf.ConnectionInfo(
        server=in_cluster_server(environ) or "https://kubernetes.default.svc",
        ca_path=str(ca) if ca.exists() else None,
        token=(directory / "token").read_text().strip() or None,
        default_namespace=namespace.read_text().strip() if namespace.exists() else None,
    )


def kubeconfig_login(
    config: Config, context: str, *, now: datetime.datetime | None = None
) -> kopf.ConnectionInfo:
    """Log in as `context`'s user of a merged kubeconfig, through the official client.
    Blocking: an exec plugin or an OIDC refresh may run here."""
    try:
        kubernetes = official_client.load()
    except ImportError:
        raise KubeconfigError(
            "error: logging in from a kubeconfig needs the official Kubernetes client: "
            "pip install 'hopper-operator[kubeconfig]'"
        ) from None
    try:
        loader = kubernetes.config.kube_config.KubeConfigLoader(
            config_dict=copy.deepcopy(config), active_context=context
        )
        configuration = kubernetes.client.Configuration()
        loader.load_and_set(configuration)
    except kubernetes.config.ConfigException as error:
        raise KubeconfigError(str(error)) from error
    # The header the client would send; its releases before 36 kept it as "authorization".
    api_key = configuration.api_key
    header = api_key.get("BearerToken") or api_key.get("authorization") or ""
    scheme, _, token = header.strip().partition(" ")
    user = _user(config, context)
    if "exec" in user and not token and not configuration.cert_file:
        # The client logs the plugin's failure, then carries on without a credential.
        command = _mapping(user["exec"]).get("command")
        raise KubeconfigError(f"exec plugin {command!r} gave no credential")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token.strip() or None,  # client-go trims a tokenFile's content, the client not
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        proxy_url=configuration.proxy,
        default_namespace=namespace_of(config, context),
        expiration=refresh_at(
            getattr(loader, "expiry", None), now or datetime.datetime.now(datetime.UTC)
        ),
    )


def _context(config: Config, name: str) -> dict[str, object]:
    entry = next(entry for entry in _entries(config, "contexts") if entry.get("name") == name)
    return dict(_mapping(entry.get("context")))


def _user(config: Config, context: str) -> dict[str, object]:
    wanted = _context(config, context).get("user")
    users = [_mapping(e.get("user")) for e in _entries(config, "users") if e.get("name") == wanted]
    return dict(users[0]) if users else {}


def namespace_of(config: Config, context: str) -> str | None:
    """The namespace `context` names, if any."""
    namespace = _context(config, context).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def kubeconfig(
    options: LoginOptions, environ: Mapping[str, str]
) -> tuple[dict[str, object], str] | None:
    """The merged kubeconfig and the context to use; None: log in as the pod's
    ServiceAccount. Fails in kubectl's words on a missing file or an unknown context."""
    in_cluster = (SERVICE_ACCOUNT / "token").exists()
    paths = kubeconfig_files(options, environ, in_cluster=in_cluster)
    if paths is None:
        return None
    config = merge(read_kubeconfigs(paths, explicit=bool(options.kubeconfig)))
    return config, context_name(config, options.context)


def connection_info(
    options: LoginOptions | None = None, environ: Mapping[str, str] | None = None
) -> kopf.ConnectionInfo:
    """Fresh credentials, from where the module docstring says. Blocking (an exec plugin
    may run): from async code, use `Credentials` or a thread. `options` default to the
    ones this process was started with (`use`)."""
    environ = os.environ if environ is None else environ
    found = kubeconfig(options or _started_with.options, environ)
    if found is None:
        return service_account_login(environ, SERVICE_ACCOUNT)
    return kubeconfig_login(*found)


class Credentials:
    """The credentials every client of this process uses, fetched once for all of them.

    `get()` returns the current ones while they are fresh (before their `expiration`,
    which Kopf's own vault honours as well), else fetches new ones, off the event loop.
    A client whose request got 401 passes what it sent as `failed`: unless another client
    has replaced them already, they are fetched again, once for all who saw the 401.
    """

    def __init__(self, load: Callable[[], kopf.ConnectionInfo]) -> None:
        self._load = load
        self._info: kopf.ConnectionInfo | None = None
        self._lock = asyncio.Lock()
        self._given_to_kopf: kopf.ConnectionInfo | None = None

    def _usable(self, failed: kopf.ConnectionInfo | None) -> kopf.ConnectionInfo | None:
        info = self._info
        if info is None or info is failed:
            return None
        now = datetime.datetime.now(datetime.UTC)
        return info if info.expiration is None or now < info.expiration else None

    async def get(self, *, failed: kopf.ConnectionInfo | None = None) -> kopf.ConnectionInfo:
        info = self._usable(failed)
        if info is None:
            async with self._lock:
                info = self._usable(failed)
                if info is None:
                    self._info = info = await asyncio.to_thread(self._load)
        return info

    async def for_kopf(self) -> kopf.ConnectionInfo:
        """Kopf asks only when what it holds expired or got 401: never hand it back."""
        info = await self.get(failed=self._given_to_kopf)
        self._given_to_kopf = info
        return info


@dataclasses.dataclass
class _Login:
    options: LoginOptions = LoginOptions()
    credentials: Credentials = dataclasses.field(
        default_factory=lambda: Credentials(connection_info)
    )


_started_with = _Login()


def use(options: LoginOptions) -> None:
    """How this process logs in: set once at start, from the command line."""
    _started_with.options = options


def shared_credentials() -> Credentials:
    """The credentials shared by Kopf's watches and every `Kube` of this process."""
    return _started_with.credentials


def own_namespace(flag: str | None, watched: list[str]) -> str:
    """Where this process lives (its Lease; the REST API's instances): the flag, else the
    pod's namespace (downward API, then the ServiceAccount's mount), else the first watched namespace (a developer's `run -n`), else `default`."""
    if flag:
        return flag
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    try:
        with open(SERVICE_ACCOUNT / "namespace") as mounted:
            return mounted.read().strip()
    except OSError:
        return watched[0] if watched else "default"
