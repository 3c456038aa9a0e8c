"""Settings of leader election: which Lease the operator replicas share and its timing."""

from __future__ import annotations

import pydantic

from transcode_operator.domain.settings.base import Group


class LeaderElectionSettings(Group):
    """One active operator: replicas elect a leader on a coordination.k8s.io Lease.

    Only the leader runs the workers and the progress relay (everything that writes
    Pods, jobs and Redis locks); the others keep their watches warm and take over
    when the leader stops renewing. A leader that cannot renew within
    `renewDeadlineSeconds` stops its workers and exits, so two replicas never act at
    once while the API server is reachable."""

    enabled: bool = True
    """Take part in the election. false: act at once (only ever run one replica).
    Default: true."""
    lease_name: str = pydantic.Field(default="kube-transcoder-operator", min_length=1,
                                     max_length=253)
    """Name of the Lease. Default: kube-transcoder-operator."""
    namespace: str = ""
    """Namespace of the Lease. Empty: $POD_NAMESPACE (the chart sets it from the
    downward API), else the first namespace the operator serves, else `default`."""
    identity: str = ""
    """This replica's name in the Lease (and the Events' reportingInstance). Empty:
    $POD_NAME, else the host name, plus the process id. Default: empty."""
    lease_duration_seconds: int = pydantic.Field(default=15, ge=2, le=300)
    """How long a lease is valid after its last renewal: a standby replica takes over
    at most this long after the leader stopped renewing. Default: 15 (client-go's)."""
    renew_deadline_seconds: float = pydantic.Field(default=10.0, gt=0)
    """A leader that has not renewed for this long gives up (stops and exits).
    Must be shorter than the lease duration. Default: 10."""
    retry_period_seconds: float = pydantic.Field(default=2.0, gt=0)
    """How often the Lease is renewed or, by a standby, tried. Default: 2."""

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> LeaderElectionSettings:
        if not (self.retry_period_seconds < self.renew_deadline_seconds
                < self.lease_duration_seconds):
            raise ValueError("leaderElection needs retryPeriodSeconds < renewDeadlineSeconds"
                             " < leaseDurationSeconds")
        return self
