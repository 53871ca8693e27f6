package ipam

import (
	"errors"
	"net/netip"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustPool(t *testing.T, start, end string) Pool {
	t.Helper()
	p, err := ParsePool(start, end)
	if err != nil {
		t.Fatalf("ParsePool(%s, %s): %v", start, end, err)
	}
	return p
}

func TestNewDefaults(t *testing.T) {
	tests := []struct {
		cidr, gateway string
		wantGW        string
		wantPools     []string
	}{
		{"10.0.0.0/24", "", "10.0.0.1", []string{"10.0.0.2-10.0.0.254"}},
		{"10.0.0.0/24", "10.0.0.254", "10.0.0.254", []string{"10.0.0.1-10.0.0.253"}},
		{"10.0.0.0/24", "10.0.0.100", "10.0.0.100", []string{"10.0.0.1-10.0.0.99", "10.0.0.101-10.0.0.254"}},
		{"192.168.1.0/29", "", "192.168.1.1", []string{"192.168.1.2-192.168.1.6"}},
		{"10.9.9.0/31", "", "10.9.9.0", []string{"10.9.9.1-10.9.9.1"}},
		{"10.9.9.9/32", "", "10.9.9.9", nil},
		{"fd00::/64", "", "fd00::1", []string{"fd00::2-fd00::ffff:ffff:ffff:ffff"}},
	}
	for _, tt := range tests {
		t.Run(tt.cidr+"/"+tt.gateway, func(t *testing.T) {
			s, err := New(tt.cidr, tt.gateway, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := s.Gateway().String(); got != tt.wantGW {
				t.Errorf("gateway = %s, want %s", got, tt.wantGW)
			}
			var got []string
			for _, p := range s.Pools() {
				got = append(got, p.String())
			}
			if len(got) != len(tt.wantPools) {
				t.Fatalf("pools = %v, want %v", got, tt.wantPools)
			}
			for i := range got {
				if got[i] != tt.wantPools[i] {
					t.Errorf("pools = %v, want %v", got, tt.wantPools)
				}
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name, cidr, gateway string
		pools               [][2]string
	}{
		{"garbage cidr", "10.0.0.0/33", "", nil},
		{"no mask", "10.0.0.0", "", nil},
		{"host bits", "10.0.0.5/24", "", nil},
		{"gateway garbage", "10.0.0.0/24", "x", nil},
		{"gateway outside", "10.0.0.0/24", "10.0.1.1", nil},
		{"gateway is network", "10.0.0.0/24", "10.0.0.0", nil},
		{"gateway is broadcast", "10.0.0.0/24", "10.0.0.255", nil},
		{"gateway other family", "10.0.0.0/24", "fd00::1", nil},
		{"pool outside", "10.0.0.0/24", "", [][2]string{{"10.0.0.10", "10.0.1.10"}}},
		{"pool has broadcast", "10.0.0.0/24", "", [][2]string{{"10.0.0.10", "10.0.0.255"}}},
		{"pool has gateway", "10.0.0.0/24", "", [][2]string{{"10.0.0.1", "10.0.0.10"}}},
		{"pools overlap", "10.0.0.0/24", "", [][2]string{{"10.0.0.10", "10.0.0.20"}, {"10.0.0.20", "10.0.0.30"}}},
		{"pool other family", "10.0.0.0/24", "", [][2]string{{"fd00::2", "fd00::3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pools []Pool
			for _, p := range tt.pools {
				pools = append(pools, mustPool(t, p[0], p[1]))
			}
			_, err := New(tt.cidr, tt.gateway, pools)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("New(%s, %q, %v) err = %v, want ErrInvalid", tt.cidr, tt.gateway, tt.pools, err)
			}
		})
	}
}

func TestParsePoolRejects(t *testing.T) {
	for _, p := range [][2]string{{"x", "10.0.0.1"}, {"10.0.0.1", "y"}, {"10.0.0.9", "10.0.0.1"}, {"10.0.0.1", "fd00::1"}} {
		if _, err := ParsePool(p[0], p[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePool(%s, %s) err = %v, want ErrInvalid", p[0], p[1], err)
		}
	}
}

func TestExhaustionAndReuse(t *testing.T) {
	s, err := New("192.168.7.0/29", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []netip.Addr
	for {
		a, err := s.Allocate()
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatalf("Allocate: %v", err)
		}
		got = append(got, a)
	}
	if len(got) != 5 || got[0].String() != "192.168.7.2" || got[4].String() != "192.168.7.6" {
		t.Fatalf("allocated %v, want .2 to .6", got)
	}
	if _, err := s.Allocate(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("second exhausted Allocate err = %v", err)
	}
	if err := s.Release(got[2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(got[2]); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("double release err = %v, want ErrNotAllocated", err)
	}
	a, err := s.Allocate()
	if err != nil || a != got[2] {
		t.Fatalf("reallocate = %v, %v; want %s", a, err, got[2])
	}
	if s.Allocated() != 5 {
		t.Fatalf("Allocated = %d, want 5", s.Allocated())
	}
}

func TestAllocateAddr(t *testing.T) {
	s, err := New("10.1.0.0/24", "", []Pool{mustPool(t, "10.1.0.100", "10.1.0.110")})
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr
	if err := s.AllocateAddr(addr("10.1.0.100")); err != nil {
		t.Fatalf("AllocateAddr: %v", err)
	}
	if err := s.AllocateAddr(addr("10.1.0.100")); !errors.Is(err, ErrInUse) {
		t.Fatalf("taken err = %v, want ErrInUse", err)
	}
	for _, a := range []string{"10.1.0.1", "10.1.0.50", "10.1.0.111", "10.2.0.100", "fd00::1"} {
		if err := s.AllocateAddr(addr(a)); !errors.Is(err, ErrOutsidePools) {
			t.Errorf("AllocateAddr(%s) err = %v, want ErrOutsidePools", a, err)
		}
	}
	// First-free skips the specifically allocated address.
	if a, err := s.Allocate(); err != nil || a.String() != "10.1.0.101" {
		t.Fatalf("Allocate = %v, %v; want 10.1.0.101", a, err)
	}
	if !s.InUse(addr("10.1.0.101")) || s.InUse(addr("10.1.0.102")) {
		t.Fatal("InUse disagrees with allocations")
	}
	if !s.InPools(addr("10.1.0.105")) || s.InPools(addr("10.1.0.1")) {
		t.Fatal("InPools disagrees with pools")
	}
}

func TestMultiplePoolsFillInOrder(t *testing.T) {
	s, err := New("10.2.0.0/24", "", []Pool{mustPool(t, "10.2.0.20", "10.2.0.21"), mustPool(t, "10.2.0.10", "10.2.0.10")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.2.0.10", "10.2.0.20", "10.2.0.21"}
	for _, w := range want {
		a, err := s.Allocate()
		if err != nil || a.String() != w {
			t.Fatalf("Allocate = %v, %v; want %s", a, err, w)
		}
	}
	if _, err := s.Allocate(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("err = %v, want ErrExhausted", err)
	}
}

func TestIPv6TopOfSpace(t *testing.T) {
	s, err := New("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Allocate(); err != nil {
			t.Fatalf("Allocate: %v", err)
		}
	}
	if _, err := s.Allocate(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("err = %v, want ErrExhausted", err)
	}
	last := netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	if err := s.Release(last); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Allocate(); err != nil || a != last {
		t.Fatalf("Allocate = %v, %v; want %s", a, err, last)
	}
}

func TestFullSlash16(t *testing.T) {
	s, err := New("10.3.0.0/16", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[netip.Addr]bool, 1<<16)
	for {
		a, err := s.Allocate()
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("duplicate %s", a)
		}
		seen[a] = true
	}
	if len(seen) != 65533 {
		t.Fatalf("allocated %d, want 65533", len(seen))
	}
}

func BenchmarkAllocate(b *testing.B) {
	s, err := New("10.4.0.0/16", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		a, err := s.Allocate()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Release(a); err != nil {
			b.Fatal(err)
		}
	}
}
