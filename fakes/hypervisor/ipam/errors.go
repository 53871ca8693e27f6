package ipam

import "errors"

// Sentinel errors; every error this package returns wraps exactly one.
var (
	// ErrInvalid reports a malformed or inconsistent CIDR, gateway, pool or address.
	ErrInvalid = errors.New("invalid")
	// ErrOutsidePools reports an address that no allocation pool contains.
	ErrOutsidePools = errors.New("outside allocation pools")
	// ErrInUse reports an address that is already allocated.
	ErrInUse = errors.New("already allocated")
	// ErrNotAllocated reports a release of an address that is not allocated.
	ErrNotAllocated = errors.New("not allocated")
	// ErrExhausted reports that every pool address is allocated.
	ErrExhausted = errors.New("no free address")
)
