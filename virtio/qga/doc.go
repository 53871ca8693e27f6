// Package qga is a QEMU guest agent client over a virtio.Channel: the JSON commands
// ({"execute":…,"arguments":…,"id":…} -> {"return":…} or {"error":{"class","desc"}}),
// resynchronisation with guest-sync-delimited, and helpers for exec and file transfer.
// It talks to Debian's real qemu-ga in its tests (unix socket and pty).
package qga
