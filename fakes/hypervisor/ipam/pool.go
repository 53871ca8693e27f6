package ipam

import (
	"fmt"
	"net/netip"
)

// Pool is an inclusive range of addresses.
type Pool struct {
	Start, End netip.Addr
}

// String renders the pool as "start-end".
func (p Pool) String() string { return p.Start.String() + "-" + p.End.String() }

// Contains reports whether a lies in the pool.
func (p Pool) Contains(a netip.Addr) bool {
	return p.Start.BitLen() == a.BitLen() && p.Start.Compare(a) <= 0 && a.Compare(p.End) <= 0
}

func (p Pool) overlaps(q Pool) bool {
	return p.Start.Compare(q.End) <= 0 && q.Start.Compare(p.End) <= 0
}

// ParsePool parses two address strings into a pool, start <= end.
func ParsePool(start, end string) (Pool, error) {
	s, err := netip.ParseAddr(start)
	if err != nil {
		return Pool{}, fmt.Errorf("pool start %q: %w", start, ErrInvalid)
	}
	e, err := netip.ParseAddr(end)
	if err != nil {
		return Pool{}, fmt.Errorf("pool end %q: %w", end, ErrInvalid)
	}
	p := Pool{Start: s.Unmap(), End: e.Unmap()}
	if p.Start.BitLen() != p.End.BitLen() {
		return Pool{}, fmt.Errorf("pool %s mixes address families: %w", p, ErrInvalid)
	}
	if p.Start.Compare(p.End) > 0 {
		return Pool{}, fmt.Errorf("pool %s starts after it ends: %w", p, ErrInvalid)
	}
	return p, nil
}
