// Package replay drives a plugin through a recorded chain session in the
// fake node and compares every answer with the recorded one.
//
// The node announces the recorded identity (network, subnet, chain, node,
// X/C chain and AVAX asset ids, genesis, upgrade and config bytes, network
// upgrades); its own service addresses, chain data dir and BLS public key
// replace the recorded ones (the node signs warp messages with its own key).
// Every node->plugin call on the VM and HTTP handler endpoints is replayed
// in recorded start order. A call that overlapped later calls in the
// recording (the WaitForEvent left pending while the node went on), or that
// the node cancelled, is issued asynchronously and settled where the
// recording shows its end:
// cancelled if it ended Canceled, awaited otherwise; one still pending when
// the session ended is left pending and cancelled after the last call.
//
// Answers are compared field by field as protojson (status codes, block
// ids, parent ids, heights, bytes, error enums, event messages, HTTP
// responses). Addresses (server_addr) are never compared, nor the bodies of
// Gather and Health. A block the VM builds at another time than in the
// recording has another timestamp, hence other bytes and id: when the
// replayed BuildBlock's timestamp differs, its parent and height are
// compared and its id, bytes and timestamp stand in for the recorded ones
// in every later request and expected answer (reported as a note).
package replay
