package ipam

import (
	"fmt"
	"net/netip"
	"slices"
)

// Subnet is the address space of one CIDR with its gateway, pools and allocations.
type Subnet struct {
	prefix  netip.Prefix
	gateway netip.Addr
	pools   []Pool
	// next[i] is the lowest address of pools[i] that may be free; every
	// address of the pool below it is allocated. It passes End when full.
	next []netip.Addr
	used map[netip.Addr]struct{}
}

// ParsePrefix parses a CIDR and rejects host bits.
func ParsePrefix(cidr string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("cidr %q: %w", cidr, ErrInvalid)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("cidr %q has host bits set (network is %s): %w", cidr, p.Masked(), ErrInvalid)
	}
	return p, nil
}

// Usable is the range of assignable addresses of p: without the network
// address and, for IPv4 shorter than /31, without the broadcast address.
func Usable(p netip.Prefix) Pool {
	first, last := p.Addr(), lastAddr(p)
	if p.Bits() < p.Addr().BitLen()-1 {
		first = first.Next()
		if p.Addr().Is4() {
			last = last.Prev()
		}
	}
	return Pool{Start: first, End: last}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	host := p.Addr().BitLen() - p.Bits()
	for i := len(b) - 1; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// New builds a subnet. gateway "" means the first usable address; pools nil
// means the usable range minus the gateway.
func New(cidr, gateway string, pools []Pool) (*Subnet, error) {
	prefix, err := ParsePrefix(cidr)
	if err != nil {
		return nil, err
	}
	usable := Usable(prefix)
	gw := usable.Start
	if gateway != "" {
		if gw, err = netip.ParseAddr(gateway); err != nil {
			return nil, fmt.Errorf("gateway %q: %w", gateway, ErrInvalid)
		}
		gw = gw.Unmap()
		if !usable.Contains(gw) {
			return nil, fmt.Errorf("gateway %s is not a usable address of %s (%s): %w", gw, prefix, usable, ErrInvalid)
		}
	}
	if pools == nil {
		pools = defaultPools(usable, gw)
	} else if err := checkPools(pools, usable, gw); err != nil {
		return nil, fmt.Errorf("cidr %s: %w", prefix, err)
	}
	s := &Subnet{prefix: prefix, gateway: gw, pools: slices.Clone(pools), used: map[netip.Addr]struct{}{}}
	slices.SortFunc(s.pools, func(a, b Pool) int { return a.Start.Compare(b.Start) })
	for _, p := range s.pools {
		s.next = append(s.next, p.Start)
	}
	return s, nil
}

func defaultPools(usable Pool, gw netip.Addr) []Pool {
	var out []Pool
	if gw != usable.Start {
		out = append(out, Pool{Start: usable.Start, End: gw.Prev()})
	}
	if gw != usable.End {
		out = append(out, Pool{Start: gw.Next(), End: usable.End})
	}
	return out
}

func checkPools(pools []Pool, usable Pool, gw netip.Addr) error {
	for i, p := range pools {
		if !usable.Contains(p.Start) || !usable.Contains(p.End) || p.Start.Compare(p.End) > 0 {
			return fmt.Errorf("pool %s is not inside usable range %s: %w", p, usable, ErrInvalid)
		}
		if p.Contains(gw) {
			return fmt.Errorf("pool %s contains gateway %s: %w", p, gw, ErrInvalid)
		}
		for _, q := range pools[:i] {
			if p.overlaps(q) {
				return fmt.Errorf("pools %s and %s overlap: %w", q, p, ErrInvalid)
			}
		}
	}
	return nil
}

// Prefix is the subnet's CIDR.
func (s *Subnet) Prefix() netip.Prefix { return s.prefix }

// Gateway is the gateway address (never handed out by Allocate).
func (s *Subnet) Gateway() netip.Addr { return s.gateway }

// Pools returns a copy of the allocation pools, sorted by start.
func (s *Subnet) Pools() []Pool { return slices.Clone(s.pools) }

// Allocated is the number of allocated addresses.
func (s *Subnet) Allocated() int { return len(s.used) }

// InUse reports whether a is allocated.
func (s *Subnet) InUse(a netip.Addr) bool {
	_, ok := s.used[a.Unmap()]
	return ok
}

// InPools reports whether a lies in one of the pools.
func (s *Subnet) InPools(a netip.Addr) bool { return s.poolOf(a.Unmap()) >= 0 }

func (s *Subnet) poolOf(a netip.Addr) int {
	for i, p := range s.pools {
		if p.Contains(a) {
			return i
		}
	}
	return -1
}

// Allocate takes the lowest free pool address.
func (s *Subnet) Allocate() (netip.Addr, error) {
	for i, p := range s.pools {
		a := s.next[i]
		for a.IsValid() && a.Compare(p.End) <= 0 {
			if _, taken := s.used[a]; !taken {
				s.used[a] = struct{}{}
				s.next[i] = a.Next()
				return a, nil
			}
			a = a.Next()
		}
		s.next[i] = a
	}
	return netip.Addr{}, fmt.Errorf("subnet %s: all %d pool addresses allocated: %w", s.prefix, len(s.used), ErrExhausted)
}

// AllocateAddr takes the given address, which must be in a pool and free.
func (s *Subnet) AllocateAddr(a netip.Addr) error {
	a = a.Unmap()
	if s.poolOf(a) < 0 {
		return fmt.Errorf("address %s of subnet %s (pools %v): %w", a, s.prefix, s.pools, ErrOutsidePools)
	}
	if _, taken := s.used[a]; taken {
		return fmt.Errorf("address %s of subnet %s: %w", a, s.prefix, ErrInUse)
	}
	s.used[a] = struct{}{}
	return nil
}

// Release frees an allocated address.
func (s *Subnet) Release(a netip.Addr) error {
	a = a.Unmap()
	if _, taken := s.used[a]; !taken {
		return fmt.Errorf("address %s of subnet %s: %w", a, s.prefix, ErrNotAllocated)
	}
	delete(s.used, a)
	if i := s.poolOf(a); i >= 0 && (!s.next[i].IsValid() || a.Compare(s.next[i]) < 0) {
		s.next[i] = a
	}
	return nil
}
