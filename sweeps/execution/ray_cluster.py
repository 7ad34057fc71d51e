"""Joining or starting Ray.

`connect_ray` fails within seconds, with one line naming the address, when a cluster address
does not answer (Ray itself would wait for minutes). It also keeps the driver's cloud
credentials out of the trials' runtime environment (`withhold_credentials`).

Example (starts Ray)::

    cluster = connect_ray()                 # a local Ray on this machine: its resources
"""

from __future__ import annotations

import os
import socket

from sweeps.errors import SweepError

CONNECT_TIMEOUT_S = 5.0
# what Ray Tune copies from the driver's environment into every trial actor's runtime_env
CREDENTIALS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN",
                         "AWS_SESSION_TOKEN"})


def withhold_credentials() -> None:
    """Stop Ray Tune from copying the driver's AWS_* variables into each trial actor's
    runtime_env: Ray logs every runtime_env in plain text (`runtime_env_agent.log` on each node)
    and shows it in the dashboard. A trial never needs them from the driver: MLflow writes happen
    in the driver, and a worker that reads object storage uses its node's own credentials (the
    environment `ray start` ran in, which a local Ray inherits from the driver, or an instance
    role)."""
    from ray.tune.execution import class_cache

    kept = getattr(class_cache, "ENV_VARS_TO_PROPAGATE", None)
    if kept is not None:
        class_cache.ENV_VARS_TO_PROPAGATE = set(kept) - CREDENTIALS


def check_address(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise `SweepError` unless something answers at the `host:port` of `address` within
    `timeout` seconds ("auto" is left to Ray, which fails at once when no cluster runs here)."""
    if address == "auto":
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SweepError(f"--address: value {address!r} is invalid: use HOST:PORT, "
                         "ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise SweepError(f"--address: value {address!r}: no Ray cluster answers at {target} "
                         f"({type(e).__name__}: {e})") from None


def connect_ray(address: str | None = None) -> dict[str, float]:
    """Start (or join, with `address`) Ray; return the cluster's resources."""
    import ray

    from sweeps.execution.console import quiet_ray_auth_notice

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet_ray_auth_notice()  # Ray's notice that it enabled token auth (RAY_AUTH_MODE unset)
    withhold_credentials()
    if address is not None:
        check_address(address)
    if not ray.is_initialized():
        try:
            ray.init(address=address, dashboard_host="127.0.0.1", logging_level="WARNING",
                     log_to_driver=False)  # progress comes from Tune's table, errors from results
        except ConnectionError as e:
            hint = ("; if the cluster uses token authentication, this user needs its token "
                    "(~/.ray/auth_token or RAY_AUTH_TOKEN; see `ray get-auth-token`)")
            raise SweepError(f"--address: value {address!r}: {' '.join(str(e).split())}{hint}"
                             ) from None
    return {k: float(v) for k, v in ray.cluster_resources().items()}
