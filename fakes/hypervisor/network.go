package hypervisor

import (
	"errors"
	"net/netip"
	"slices"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/ipam"
	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/page"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// networkService is the in-memory NetworkService. One mutex guards all of
// its state; every handler validates completely before it mutates, so a
// failed call leaves the state as it was.
type networkService struct {
	hv.UnimplementedNetworkServiceServer

	srv *Server
	mu  sync.Mutex

	networks *table[*hv.Network]
	subnets  *table[*subnetState]
	ports    *table[*hv.Port]
	groups   *table[*hv.SecurityGroup]
	routers  *table[*routerState]
	fips     *table[*hv.FloatingIP]

	vnis     map[uint32]string // VXLAN VNI -> network id
	vlans    map[uint32]string // VLAN id -> network id
	macs     map[string]string // MAC -> port id
	routerOf map[string]string // router interface port id -> router id
}

// subnetState is a subnet with its address book.
type subnetState struct {
	pb     *hv.Subnet
	ipam   *ipam.Subnet
	allocs map[netip.Addr]*allocation
	// gatewayPort is the router interface port that owns the gateway IP, or "".
	gatewayPort string
}

// allocation is one allocated address and who owns it. Only allocations
// with no owner may be released with ReleaseIP.
type allocation struct {
	pb    *hv.IPAllocation
	owner string // "", "port:<id>", "router:<id>" or "floatingip:<id>"
}

// routerState is a router with its interfaces (subnet id -> port id).
type routerState struct {
	pb         *hv.Router
	interfaces map[string]string
	ifaceOrder []string
}

func newNetworkService(s *Server) *networkService {
	return &networkService{
		srv:      s,
		networks: newTable[*hv.Network](),
		subnets:  newTable[*subnetState](),
		ports:    newTable[*hv.Port](),
		groups:   newTable[*hv.SecurityGroup](),
		routers:  newTable[*routerState](),
		fips:     newTable[*hv.FloatingIP](),
		vnis:     map[uint32]string{},
		vlans:    map[uint32]string{},
		macs:     map[string]string{},
		routerOf: map[string]string{},
	}
}

var _ hv.NetworkServiceServer = (*networkService)(nil)

func (n *networkService) stamp() *timestamppb.Timestamp { return timestamppb.New(n.srv.now()) }

func clone[T proto.Message](m T) T { return proto.Clone(m).(T) }

func required(field, value string) error {
	if value == "" {
		return errf(codes.InvalidArgument, "%s is required", field)
	}
	return nil
}

// ipamError maps an ipam error to a gRPC status naming the subnet.
func ipamError(subnetID string, err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, ipam.ErrInvalid), errors.Is(err, ipam.ErrOutsidePools):
		code = codes.InvalidArgument
	case errors.Is(err, ipam.ErrInUse):
		code = codes.AlreadyExists
	case errors.Is(err, ipam.ErrNotAllocated):
		code = codes.NotFound
	case errors.Is(err, ipam.ErrExhausted):
		code = codes.ResourceExhausted
	}
	if subnetID == "" {
		return status.Error(code, err.Error())
	}
	return errf(code, "subnet %s: %v", subnetID, err)
}

func parseAddr(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errf(codes.InvalidArgument, "%s %q is not an IP address", field, s)
	}
	return a.Unmap(), nil
}

// table keeps objects by id in creation order; the order is the page key.
type table[T any] struct {
	byID  map[string]*entry[T]
	order []*entry[T]
	seq   uint64
}

type entry[T any] struct {
	key page.Key
	v   T
}

func newTable[T any]() *table[T] { return &table[T]{byID: map[string]*entry[T]{}} }

func (t *table[T]) get(id string) (T, bool) {
	e, ok := t.byID[id]
	if !ok {
		var zero T
		return zero, false
	}
	return e.v, true
}

// put adds a new object at the end of the order.
func (t *table[T]) put(id string, v T) {
	t.seq++
	e := &entry[T]{key: page.Key{Seq: t.seq, ID: id}, v: v}
	t.byID[id] = e
	t.order = append(t.order, e)
}

func (t *table[T]) remove(id string) {
	e, ok := t.byID[id]
	if !ok {
		return
	}
	delete(t.byID, id)
	t.order = slices.DeleteFunc(t.order, func(x *entry[T]) bool { return x == e })
}

// all returns the objects in creation order that keep(obj) accepts (all when keep is nil).
func (t *table[T]) all(keep func(T) bool) []T {
	out := make([]T, 0, len(t.order))
	for _, e := range t.order {
		if keep == nil || keep(e.v) {
			out = append(out, e.v)
		}
	}
	return out
}

// page returns one page of the objects keep accepts, the next page token
// and how many objects keep accepts in all.
func (t *table[T]) page(keep func(T) bool, size int32, token string) ([]T, string, int, error) {
	var match []*entry[T]
	for _, e := range t.order {
		if keep(e.v) {
			match = append(match, e)
		}
	}
	items, next, err := page.Slice(match, func(e *entry[T]) page.Key { return e.key }, size, token)
	if err != nil {
		return nil, "", 0, err
	}
	out := make([]T, len(items))
	for i, e := range items {
		out[i] = e.v
	}
	return out, next, len(match), nil
}

func cloneAll[T proto.Message](in []T) []T {
	out := make([]T, len(in))
	for i, m := range in {
		out[i] = clone(m)
	}
	return out
}

// full refuses one more object in t (Limits.MaxNetworkObjects).
func (n *networkService) full(kind string, count int) error {
	if max := n.srv.opts.Limits.MaxNetworkObjects; count >= max {
		return errf(codes.ResourceExhausted, "%d %s exist, the limit (Limits.MaxNetworkObjects)", count, kind)
	}
	return nil
}
