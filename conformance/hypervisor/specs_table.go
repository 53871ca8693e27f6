package hypervisor

import (
	"fmt"
	"slices"
)

// Spec is one conformance spec: a stable ID and its RFC 2119 statement.
type Spec struct{ ID, Text string }

// Title is how the spec appears in reports: "[ID] Text".
func (s Spec) Title() string { return fmt.Sprintf("[%s] %s", s.ID, s.Text) }

// Convention reports whether the spec states only a SHOULD: a documented
// convention of the API doc, run and reported but never failing the CLI's
// run (see IsConvention).
func (s Spec) Convention() bool { return IsConvention(s.Title()) }

// specTable is every spec of the suite, by ID, word for word as the specs
// register it (TestSpecTable holds the two together).
var specTable = []Spec{
	{"HV-AGT-001", "AgentService CreateInstance with an explicit instance_id MUST create an instance that GetInstance and ListInstances of AgentService show"},
	{"HV-AGT-002", "AgentService CreateInstance MUST refuse an instance_id that exists with AlreadyExists"},
	{"HV-AGT-003", "AgentService StartInstance, RestartInstance and StopInstance MUST follow the instance state machine"},
	{"HV-AGT-004", "AgentService GetInstanceStats MUST return stats naming the instance"},
	{"HV-AGT-005", "AgentService AttachConsole MUST take the instance id in the first message, accept a resize, and carry input to the guest and output back"},
	{"HV-AGT-006", "AgentService DeleteInstance MUST remove the instance, and a second delete MUST return NotFound"},
	{"HV-CLU-001", "RegisterNode MUST return a node_id, heartbeat interval and lease TTL, and GetNode MUST return the registered fields"},
	{"HV-CLU-002", "RegisterNode SHOULD refuse a second node with the same hostname with AlreadyExists (a documented convention of the API doc, not a wire rule)"},
	{"HV-CLU-003", "RegisterNode MUST refuse a missing hostname, a bad ip or port, or no role with InvalidArgument"},
	{"HV-CLU-004", "DeregisterNode MUST remove the node so GetNode returns NotFound"},
	{"HV-CLU-005", "UpdateNodeStatus MUST change the node's status as GetNode shows it, and return NotFound for an unknown node"},
	{"HV-CLU-006", "Heartbeat MUST be accepted for a registered node with a positive next interval and MUST renew its lease (a node that heartbeats stays READY past lease_ttl_seconds), and MUST NOT be accepted for an unknown node"},
	{"HV-CLU-007", "GetClusterInfo MUST name the cluster and count the registered and READY nodes and their capacity"},
	{"HV-CLU-008", "ListNodes MUST filter by role, status, region, zone and label_selector, alone and combined"},
	{"HV-CLU-009", "A node whose lease lapses (no Heartbeat for lease_ttl_seconds) MUST leave READY"},
	{"HV-CLU-010", "DeregisterNode of a node already deregistered SHOULD return NotFound (a documented convention; an idempotent OK is also seen)"},
	{"HV-CMP-001", "CreateInstance MUST schedule onto a READY worker and GetInstance MUST return the same instance"},
	{"HV-CMP-002", "StartInstance, StopInstance and RestartInstance MUST move an instance STOPPED -> RUNNING -> STOPPED, and Restart MUST leave it RUNNING"},
	{"HV-CMP-003", "StartInstance of a RUNNING instance and StopInstance of a STOPPED instance MUST fail with FailedPrecondition"},
	{"HV-CMP-004", "CreateInstance MUST refuse a duplicate name with AlreadyExists"},
	{"HV-CMP-005", "CreateInstance MUST refuse an empty name, no type, zero cpu_cores or zero memory_bytes with InvalidArgument"},
	{"HV-CMP-006", "CreateInstance MUST fail with ResourceExhausted when no READY worker in the region has room, and MUST NOT change any node's allocation"},
	{"HV-CMP-007", "CreateInstance MUST place the instance on preferred_node_id when it fits, and MUST skip nodes that are not READY"},
	{"HV-CMP-008", "Scheduling MUST account resources: a node's allocated cpu and memory MUST rise by the instance's spec and fall back after DeleteInstance"},
	{"HV-CMP-009", "DeleteInstance MUST remove the instance: GetInstance then returns NotFound"},
	{"HV-CMP-010", "GetInstanceStats MUST return stats naming the instance with collected_at set"},
	{"HV-CMP-011", "AttachConsole MUST stream console bytes of a RUNNING instance"},
	{"HV-CMP-012", "ListImages MUST return a catalogue with ids and names, filtered by type"},
	{"HV-CMP-013", "PullImage MUST stream progress ending in completed with current == total, after which ListImages MUST include the image"},
	{"HV-CMP-014", "ListInstances MUST filter by type, state, node_id and label_selector, alone and combined"},
	{"HV-ERR-001", "Get and Delete of an unknown id MUST return NotFound for every object kind"},
	{"HV-ERR-002", "A refused CreateInstance MUST NOT change state: no instance appears and total_count is unchanged"},
	{"HV-ERR-003", "Empty ids MUST be refused with InvalidArgument or NotFound, never accepted"},
	{"HV-ERR-004", "Repeating a read MUST be idempotent: GetNode, GetInstance and GetVolume twice MUST return the same object"},
	{"HV-NET-001", "CreateNetwork, GetNetwork, ListNetworks and DeleteNetwork MUST create, show, list by tenant and remove a network"},
	{"HV-NET-002", "CreateNetwork MUST refuse an empty name, a VXLAN VNI outside 1..16777215 and a VLAN id outside 1..4094 with InvalidArgument"},
	{"HV-NET-003", "CreateNetwork MUST refuse a VXLAN VNI already in use with AlreadyExists"},
	{"HV-NET-004", "CreateSubnet MUST set a gateway inside the CIDR, and GetSubnet, ListSubnets and DeleteSubnet MUST show, list and remove the subnet"},
	{"HV-NET-005", "CreateSubnet MUST refuse a malformed CIDR or a gateway outside the CIDR with InvalidArgument, and a subnet on an unknown network with NotFound"},
	{"HV-NET-006", "AllocateIP MUST hand out a free address of the subnet or the requested one, refuse a taken address with AlreadyExists, and ReleaseIP and ListAllocations MUST reflect it"},
	{"HV-NET-007", "AllocateIP MUST return ResourceExhausted once a subnet's pool is used up"},
	{"HV-NET-008", "CreatePort MUST give a port a MAC and an IP from its subnet, BindPort MUST attach it to an instance, UnbindPort detach it, and DeletePort MUST be refused while bound"},
	{"HV-NET-009", "DeleteSubnet MUST be refused with FailedPrecondition while an address is allocated"},
	{"HV-NET-010", "Security groups: CreateSecurityGroup, GetSecurityGroup, ListSecurityGroups, AddSecurityRule, RemoveSecurityRule and DeleteSecurityGroup MUST manage groups and rules"},
	{"HV-NET-011", "AddSecurityRule MUST refuse an inverted port range or a bad direction with InvalidArgument and an identical rule with AlreadyExists"},
	{"HV-NET-012", "DeleteSecurityGroup MUST be refused with FailedPrecondition while a port uses the group"},
	{"HV-NET-013", "Routers: AddRouterInterface MUST attach a subnet through a port, AddRoute and RemoveRoute MUST edit routes, and DeleteRouter MUST be refused while an interface exists"},
	{"HV-NET-014", "Floating IPs: CreateFloatingIP MUST allocate from an external network, AssociateFloatingIP MUST bind it to a port, DisassociateFloatingIP unbind it, and ListFloatingIPs and DeleteFloatingIP MUST reflect it"},
	{"HV-NET-015", "ListVTEPs MUST list a VTEP for every READY node, at the node's IP"},
	{"HV-NET-016", "CreateSubnet without gateway_ip SHOULD default the gateway to the first usable address (the documented convention, .1 of a /24)"},
	{"HV-NET-017", "AllocateIP without ip_address SHOULD hand out the lowest free address after the gateway, and again after ReleaseIP (the documented allocation order)"},
	{"HV-NET-018", "DeleteNetwork SHOULD be refused with FailedPrecondition while a subnet exists (a documented convention; a server may delete the subnets with the network)"},
	{"HV-PAG-001", "A list with page_size 0 MUST return the default page of 20 items with a next_page_token, and total_count MUST count every match"},
	{"HV-PAG-002", "A list MUST NOT return more than 100 items per page: a page_size over 100 is clamped or refused with InvalidArgument"},
	{"HV-PAG-003", "A page walk MUST return every item exactly once, even with inserts between pages, and MUST end with an empty next_page_token"},
	{"HV-PAG-004", "Every paginated list MUST refuse a malformed page_token with InvalidArgument"},
	{"HV-PAG-005", "total_count of ListNodes, ListInstances and ListSnapshots MUST count every match whatever the page_size"},
	{"HV-PAG-006", "A list MUST refuse a negative page_size with InvalidArgument"},
	{"HV-PAG-007", "ListNetworks, ListSubnets and ListPorts page walks MUST return every item exactly once"},
	{"HV-STO-001", "CreateVolume MUST make an AVAILABLE volume, UpdateVolume MUST change its name and description, and DeleteVolume MUST remove it"},
	{"HV-STO-002", "CreateVolume MUST refuse size_bytes <= 0 or a missing source snapshot with InvalidArgument or NotFound"},
	{"HV-STO-003", "AttachVolume MUST put a volume IN_USE on the instance's node with a device path, DeleteVolume MUST be refused while IN_USE, and DetachVolume MUST make it AVAILABLE"},
	{"HV-STO-004", "ResizeVolume MUST grow a volume and MUST refuse to shrink it with InvalidArgument"},
	{"HV-STO-005", "Snapshots: CreateSnapshot, GetSnapshot, ListSnapshots, UpdateSnapshot and DeleteSnapshot MUST manage snapshots, and DeleteVolume MUST be refused while a snapshot exists"},
	{"HV-STO-006", "CreateVolume from a snapshot MUST record source_snapshot_id and refuse a size below the source with InvalidArgument"},
	{"HV-STO-007", "ListVolumes MUST filter by tenant, status, instance_id and label_selector, alone and combined"},
	{"HV-WAT-001", "WatchNodes MUST stream ADDED, MODIFIED and DELETED events for a node, in order"},
	{"HV-WAT-002", "WatchNodes filtered by region MUST NOT deliver events of nodes in other regions"},
	{"HV-WAT-003", "WatchInstance MUST stream the instance's state changes in order and end after its DELETED event"},
	{"HV-WAT-004", "WatchInstance of an unknown instance MUST fail with NotFound"},
}

// Specs lists every spec of the suite, by ID.
func Specs() []Spec { return slices.Clone(specTable) }
