// Package realhv runs machines as real libvirt domains, through libvirt's own
// RPC protocol (github.com/digitalocean/go-libvirt, no cgo): it connects to a
// libvirt URI, renders domain XML from a Spec with libvirt's Go XML bindings
// (libvirt.org/go/libvirtxml), defines and starts domains, follows their
// lifecycle events, shuts them down gracefully with a deadline and then
// destroys them, reads their stats and finds their channels in the live XML.
//
// Its real counterpart is itself: every test here talks to a real libvirtd
// driving real QEMU (TCG where KVM cannot run, as on nested-PVM machines).
//
// Every domain a Host creates is named Prefix + "-" + a run-unique suffix,
// and Host.Sweep destroys and undefines every domain with the prefix, so a
// run that was interrupted leaves nothing behind once the next one starts.
package realhv
