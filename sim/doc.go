// Package sim is the deterministic world every multi-node run lives in:
// one seeded random source, one clock interface for the whole module, one
// delivery queue through which every cross-node message goes, links with
// latency, loss, duplication, reordering and partitions, fault points, an
// invariant checker and an event trace.
//
// A World is single-threaded by design. Work is a queue of items (message
// deliveries, timers, scripted faults) ordered by virtual time and then by
// insertion; Run pops one item at a time and runs its callback to the end
// before it takes the next, so the virtual clock only moves when the world is
// quiescent (nothing runnable is left at the current instant). Nothing in
// virtual mode reads the wall clock: the same seed and the same inputs give
// the same trace, byte for byte (Trace.WriteJSON).
//
// Shapes (after TigerBeetle's src/testing): World (simulator.zig, one seeded
// entry point), Clock (time.zig), Net (packet_simulator.zig), Faults, and the
// checkers apart (Invariants). Code that runs inside callbacks must not block
// on the virtual clock (Sleep would wait for the very loop that runs it); it
// schedules with AfterFunc instead.
package sim
