package cluster

import "time"

// SetMinDeadMemberCleanup lowers the floor of Config.DeadMemberCleanup for
// a test and returns the function that puts it back.
func SetMinDeadMemberCleanup(d time.Duration) (restore func()) {
	old := minDeadMemberCleanup
	minDeadMemberCleanup = d
	return func() { minDeadMemberCleanup = old }
}
