// Package fidelity holds the fake AvalancheGo node against recordings of a
// real one. Order rules, written as data (rules.txt, embedded as Rules),
// say what the real node's calls to a plugin look like: what precedes what,
// what happens once, what repeats, which call is open when another starts,
// and which request fields have which values where they are not
// run-specific. Check evaluates rules on a recorded session
// (fakes/avalanchego/recording); the differential tests run them on the
// committed recordings of AvalancheGo v1.14.2 (the rules must hold there:
// they are derived from them) and on sessions of the fake node driving
// refvm and xsvm through the recorder.
//
// A rule the fake is known to break carries "known-difference <id>", the id
// of its row in docs/FIDELITY.md, the fidelity ledger; any other broken
// rule is a new difference.
//
// # Rule file syntax
//
// One rule a line; '#' starts a comment (whole-line or after the rule), so
// a value or regular expression cannot hold one, nor a space.
//
//	<scope> <kind> <arguments> [when protocol <n>] [known-difference <id>]
//
// Scopes: "preinit" (a session without vm.VM/Initialize: the node's
// start-up check of the plugin), "chain" (a session with one), "normal" (a
// chain session that reached SetState(STATE_NORMAL_OP)), "all". With "when
// protocol n" the rule applies only to sessions whose plugin announced
// protocol n.
//
// A call selector names node->plugin calls (plugin->node ones only by full
// method): "BuildBlock" is /vm.VM/BuildBlock, "HTTP/HandleSimple" is
// /<any package>.HTTP/HandleSimple, "/rpcdb.Database/Close" is exact. A
// filter in brackets keeps calls whose field has a value,
// SetState[request.state=STATE_NORMAL_OP], or matches a regular
// expression, BuildBlock[response.height~^[2-9]]. Field paths are dotted,
// starting at "request", "response", "code" or "endpoint"; a value is the
// field's protojson (strings unquoted, 64-bit integers as their digits).
//
// Kinds ("A" and "B" are selectors):
//
//	once A              exactly one A
//	never A             no A
//	repeats A           at least two A
//	first A             the first call is an A
//	only A B ...        every call is one of those
//	before A B          every A starts before the first B starts
//	then A B C ...      after each A that ended OK: a B, then a C, ..., each
//	                    starting after the previous ended, all before the next A
//	last A [except B ...]  no call but those listed starts after the first A
//	open-at A B         an A is open (started, not ended) when the first B starts
//	closed-at A B       no A is open when the first B starts
//	field A PATH = V    in every A, the field at PATH is V
//	field A PATH ~ RE   ... matches the regular expression RE (Go syntax)
//	field A PATH present  ... is present
//	field A PATH absent   ... is absent (protojson omits default values: 0, "", false)
//	field A PATH seq V1 V2 ...  the values of the A calls, in start order, are exactly V1 V2 ...
//
// A rule is witnessed on a session when it had something to check there
// (before A B: both occur); the self-check on the real recordings requires
// every rule to be witnessed by at least one of them, so no rule is
// invented.
package fidelity
