// Package guestagent is the guest-agent conformance suite: ginkgo specs that
// check an agent at the guest end of a virtio-serial channel, for three
// profiles — json (the vmtestbed JSON agent protocol), line (the seed's shell
// agent) and qga (the QEMU guest agent's JSON-RPC).
//
// The suite has the shape of the other two: DefaultConfig, Register(&cfg)
// adds the specs to a caller's ginkgo suite, Run(t, cfg) runs them from a Go
// test, and RunSuite(ctx, cfg, opts) runs them from a CLI and returns a
// report.Result. Targets reach the agent through cfg.Dial; Socket and
// StartExec build Dial for a unix socket and for a command given a pty slave.
//
// Every spec is bounded: each request waits at most cfg.CallTimeout, and a
// failure says what the agent did ("no reply within 2s to …", "reply was not
// JSON: 0x…"). Contract: the virtio-serial spec,
// whose facts the suite checks are in testdata/contract.md.
package guestagent
