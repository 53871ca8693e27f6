// Package guestagent holds agents that live at the guest end of a
// virtio-serial channel: a JSON agent (the seed's JSON agent grown up: hello,
// ping, allow-listed exec, status, metrics, app control, chunked file transfer
// with a checksum) and a line agent (the seed's shell agent). An Agent serves
// one io.ReadWriteCloser — a pty slave, a unix socket connection or a
// /dev/virtio-ports/<name> file — until it closes or its context ends.
//
// Fault modes (Options.Fault) turn an agent into a broken peer on purpose:
// delay, drop, garbage, partial, hangup and slow-reader break the channel;
// ignore-allowlist, bad-checksum, constant-status, constant-metrics, no-id,
// no-version, escapes, ping-every-other, seed-ping-wrong, exit-zero,
// read-corrupt, path-escape, app-status-stale, app-accepts-all, malformed-ok,
// unknown-ok, long-line-ok and cross-talk keep it healthy but are wrong in meaning.
// Conformance suites use them
// to prove that every spec can fail.
//
// Contract: the virtio-serial spec; the facts the code relies on are in
// conformance/guestagent/testdata/contract.md.
package guestagent
