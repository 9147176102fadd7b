package cluster

import "github.com/bluegreen-dev/bluegreen/internal/api"

// Status is this node's view of the cluster for /api/v1/status.
func (n *Node) Status() api.ClusterStatus {
	rev, at := n.follow.applied()
	n.mu.Lock()
	defer n.mu.Unlock()
	st := api.ClusterStatus{
		Instance: n.id, Leader: n.Leader(), Degraded: n.degraded, StateError: n.lastErr,
		RouteRev: rev, RouteAppliedAt: at, Instances: []api.InstanceStatus{},
	}
	for _, in := range n.instances {
		st.Instances = append(st.Instances, api.InstanceStatus{
			ID: in.ID, Admin: in.Admin, Production: in.Production, RouteRev: in.RouteRev,
			Leader: in.Leader, Degraded: in.Degraded, StartedAt: in.StartedAt, LastSeen: in.LastSeen,
		})
	}
	return st
}

// LeaderAdmin is the admin address of the instance the last heartbeat
// saw leading ("" when none, or when it is this one).
func (n *Node) LeaderAdmin() string {
	if n.Leader() {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, in := range n.instances {
		if in.Leader && in.ID != n.id {
			return in.Admin
		}
	}
	return ""
}

// Degraded reports whether the last round with the state store failed.
func (n *Node) Degraded() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.degraded
}
