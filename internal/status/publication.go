package status

import "fmt"

// Publication says how far the publication of destination name's LeaseSet
// is in st, and whether it is done: a LeaseSet with inbound leases per
// router up (one router's under the failover policy). Any LeaseSet with
// that count will do: a new destination has none before, and after a
// change of --inbound the old LeaseSet has another count. It is what
// `imh dest create|import|set --wait` polls for.
func (st *Status) Publication(name string, inbound int) (done bool, state string) {
	var d *Destination
	for i := range st.Destinations {
		if st.Destinations[i].Name == name {
			d = &st.Destinations[i]
		}
	}
	if st.Leader == "" {
		return false, "no leader"
	}
	if d == nil {
		return false, "the destination is not in the leader's view yet"
	}
	want, up := st.wantLeases(d.Policy, inbound)
	if up == 0 {
		return false, "no router is up"
	}
	if d.Published == 0 {
		return false, fmt.Sprintf("no LeaseSet yet, %d leases asked (%d routers up)", want, up)
	}
	return d.Leases == want, fmt.Sprintf("%d of %d leases published (%d routers up)", d.Leases, want, up)
}

// wantLeases is how many leases a LeaseSet should carry with the routers
// st shows up: inbound per router under spread, one router's under
// failover.
func (st *Status) wantLeases(policy string, inbound int) (want, up int) {
	for _, r := range st.Routers {
		if r.State == RouterUp {
			up++
		}
	}
	if policy == "failover" {
		return min(up, 1) * inbound, up
	}
	return up * inbound, up
}
