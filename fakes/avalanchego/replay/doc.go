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
// responses, their headers as a set). Addresses (server_addr) are never
// compared, nor the bodies of Gather and Health. A block the VM builds at
// another time than in the recording has another timestamp, hence other
// bytes and id: when the replayed BuildBlock differs from the recorded one
// only in that (same parent, height and verify_with_context, and the bytes
// equal once the timestamp's encoding is swapped; see timeOnly), the node
// adopts the recorded block as it would a peer's (ParseBlock of the
// recorded bytes) and every later call goes on as recorded; that is a note,
// not a difference. docs/RECORDING.md ("Replay") has the whole rule.
package replay
