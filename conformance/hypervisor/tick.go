package hypervisor

import "time"

// pollInterval is how often cleanup polls for an object to disappear.
const pollInterval = 5 * time.Millisecond

// tick returns a channel that fires once after pollInterval.
func tick() <-chan time.Time { return time.After(pollInterval) }
