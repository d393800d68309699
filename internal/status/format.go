package status

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ByRouter formats per-router counts ({"r1":3,"r2":2}, as in
// Destination.LeasesByRouter) as "r1=3 r2=2", in name order, and an empty
// map as "-". It lives beside the shapes it prints so that `imh status`,
// `imh dest show` and the demo's live line word them alike.
func ByRouter(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// ShortHex abbreviates a hex hash (a gateway in Destination.GatewaySet, a
// tunnel's) to its first 12 digits for tables; shorter strings are kept.
func ShortHex(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}
