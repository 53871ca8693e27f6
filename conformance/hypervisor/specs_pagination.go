package hypervisor

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// bulkVolumes creates n small volumes for tenant without waiting for them.
func (e *env) bulkVolumes(ctx context.Context, tenant string, n int) []string {
	GinkgoHelper()
	e.need(svcStorage + "DeleteVolume")
	ids := make([]string, 0, n)
	for range n {
		v, err := e.storage.CreateVolume(ctx, &hv.CreateVolumeRequest{Name: e.name("pv"), SizeBytes: 1 << 20, Type: hv.VolumeType_VOLUME_TYPE_HDD, TenantId: tenant})
		expectOK(err, "CreateVolume")
		e.deleteVolumeLater(v.GetId())
		ids = append(ids, v.GetId())
	}
	return ids
}

// walkVolumes lists tenant's volumes page by page, calling between after each page.
func (e *env) walkVolumes(ctx context.Context, tenant string, size int32, between func()) (ids []string, pages int) {
	GinkgoHelper()
	token := ""
	for {
		resp, err := e.storage.ListVolumes(ctx, &hv.ListVolumesRequest{TenantId: tenant, PageSize: size, PageToken: token})
		expectOK(err, "ListVolumes page %d", pages+1)
		Expect(len(resp.GetVolumes())).To(BeNumerically("<=", size), "page %d is larger than page_size %d", pages+1, size)
		for _, v := range resp.GetVolumes() {
			Expect(ids).NotTo(ContainElement(v.GetId()), "page %d repeats volume %s from an earlier page", pages+1, v.GetId())
			ids = append(ids, v.GetId())
		}
		pages++
		Expect(pages).To(BeNumerically("<", 1000), "page walk does not end: next_page_token keeps coming")
		if resp.GetNextPageToken() == "" {
			return ids, pages
		}
		token = resp.GetNextPageToken()
		if between != nil {
			between()
		}
	}
}

func (s *specs) pagination() {
	s.it("[HV-PAG-001] A list with page_size 0 MUST return the default page of 20 items with a next_page_token, and total_count MUST count every match", func(ctx context.Context, e *env) {
		tenant := e.name("tenant")
		e.bulkVolumes(ctx, tenant, 25)
		resp, err := e.storage.ListVolumes(ctx, &hv.ListVolumesRequest{TenantId: tenant})
		expectOK(err, "ListVolumes page_size=0")
		Expect(resp.GetVolumes()).To(HaveLen(20), "page_size 0 MUST mean the default 20")
		Expect(resp.GetNextPageToken()).NotTo(BeEmpty(), "25 matches and a page of 20: next_page_token MUST be set")
		Expect(resp.GetTotalCount()).To(Equal(int32(25)), "total_count")
	})

	s.it("[HV-PAG-002] A list MUST NOT return more than 100 items per page: a page_size over 100 is clamped or refused with InvalidArgument", func(ctx context.Context, e *env) {
		tenant := e.name("tenant")
		e.bulkVolumes(ctx, tenant, 101)
		resp, err := e.storage.ListVolumes(ctx, &hv.ListVolumesRequest{TenantId: tenant, PageSize: 1000})
		if err != nil {
			expectCode(err, codes.InvalidArgument, "ListVolumes page_size=1000")
			return
		}
		Expect(len(resp.GetVolumes())).To(BeNumerically("<=", 100), "page_size 1000 returned %d items; the maximum is 100", len(resp.GetVolumes()))
		Expect(resp.GetNextPageToken()).NotTo(BeEmpty(), "101 matches in a page of at most 100: next_page_token MUST be set")
	})

	s.it("[HV-PAG-003] A page walk MUST return every item exactly once, even with inserts between pages, and MUST end with an empty next_page_token", func(ctx context.Context, e *env) {
		tenant := e.name("tenant")
		orig := e.bulkVolumes(ctx, tenant, 30)
		var added []string
		got, pages := e.walkVolumes(ctx, tenant, 7, func() { added = append(added, e.bulkVolumes(ctx, tenant, 2)...) })
		Expect(pages).To(BeNumerically(">=", 5), "30 items in pages of 7")
		seen := map[string]int{}
		for _, id := range got {
			seen[id]++
		}
		for id, n := range seen {
			Expect(n).To(Equal(1), "volume %s appeared %d times in one page walk", id, n)
		}
		for _, id := range orig {
			Expect(seen).To(HaveKey(id), "volume %s existed before the walk and was skipped (%d of %d seen)", id, len(seen), len(orig)+len(added))
		}
	})

	s.it("[HV-PAG-004] Every paginated list MUST refuse a malformed page_token with InvalidArgument", func(ctx context.Context, e *env) {
		const bad = "!!not-a-page-token!!"
		c := e.cases("lists with a malformed page_token")
		for _, tc := range []struct {
			name, method string
			call         func() error
		}{
			{"ListNodes", svcCluster + "ListNodes", func() error { _, err := e.cluster.ListNodes(ctx, &hv.ListNodesRequest{PageToken: bad}); return err }},
			{"ListInstances", svcCompute + "ListInstances", func() error {
				_, err := e.compute.ListInstances(ctx, &hv.ListInstancesRequest{PageToken: bad})
				return err
			}},
			{"ListImages", svcCompute + "ListImages", func() error { _, err := e.compute.ListImages(ctx, &hv.ListImagesRequest{PageToken: bad}); return err }},
			{"ListVolumes", svcStorage + "ListVolumes", func() error { _, err := e.storage.ListVolumes(ctx, &hv.ListVolumesRequest{PageToken: bad}); return err }},
			{"ListSnapshots", svcStorage + "ListSnapshots", func() error {
				_, err := e.storage.ListSnapshots(ctx, &hv.ListSnapshotsRequest{PageToken: bad})
				return err
			}},
			{"ListNetworks", svcNetwork + "ListNetworks", func() error {
				_, err := e.network.ListNetworks(ctx, &hv.ListNetworksRequest{PageToken: bad})
				return err
			}},
			{"ListSubnets", svcNetwork + "ListSubnets", func() error { _, err := e.network.ListSubnets(ctx, &hv.ListSubnetsRequest{PageToken: bad}); return err }},
			{"ListPorts", svcNetwork + "ListPorts", func() error { _, err := e.network.ListPorts(ctx, &hv.ListPortsRequest{PageToken: bad}); return err }},
		} {
			c.check(tc.name, tc.method, func(g Gomega) { codeIs(g, tc.call(), codes.InvalidArgument, "%s with page_token %q", tc.name, bad) })
		}
		c.done()
	})

	s.it("[HV-PAG-005] total_count of ListNodes, ListInstances and ListSnapshots MUST count every match whatever the page_size", func(ctx context.Context, e *env) {
		region := e.region()
		for range 3 {
			e.readyNode(ctx, region)
		}
		nodes, err := e.cluster.ListNodes(ctx, &hv.ListNodesRequest{Region: region, PageSize: 1})
		expectOK(err, "ListNodes page_size=1")
		Expect(nodes.GetNodes()).To(HaveLen(1), "ListNodes page_size=1")
		Expect(nodes.GetTotalCount()).To(Equal(int32(3)), "ListNodes total_count with 3 nodes in the region")
		for range 2 {
			e.createInstance(ctx, e.instanceRequest(ctx, region))
		}
		insts, err := e.compute.ListInstances(ctx, &hv.ListInstancesRequest{LabelSelector: map[string]string{"conform": e.prefix}, PageSize: 1})
		expectOK(err, "ListInstances page_size=1")
		Expect(insts.GetTotalCount()).To(Equal(int32(2)), "ListInstances total_count with 2 labelled instances")
		v := e.createVolume(ctx)
		e.createSnapshot(ctx, v.GetId())
		e.createSnapshot(ctx, v.GetId())
		snaps, err := e.storage.ListSnapshots(ctx, &hv.ListSnapshotsRequest{VolumeId: v.GetId(), PageSize: 1})
		expectOK(err, "ListSnapshots page_size=1")
		Expect(snaps.GetSnapshots()).To(HaveLen(1), "ListSnapshots page_size=1")
		Expect(snaps.GetTotalCount()).To(Equal(int32(2)), "ListSnapshots total_count with 2 snapshots")
	})

	s.it("[HV-PAG-006] A list MUST refuse a negative page_size with InvalidArgument", func(ctx context.Context, e *env) {
		_, err := e.cluster.ListNodes(ctx, &hv.ListNodesRequest{PageSize: -1})
		expectCode(err, codes.InvalidArgument, "ListNodes page_size=-1")
		_, err = e.storage.ListVolumes(ctx, &hv.ListVolumesRequest{PageSize: -1})
		expectCode(err, codes.InvalidArgument, "ListVolumes page_size=-1")
	})

	s.it("[HV-PAG-007] ListNetworks, ListSubnets and ListPorts page walks MUST return every item exactly once", func(ctx context.Context, e *env) {
		var nets []string
		for range 5 {
			nets = append(nets, e.createNetwork(ctx).GetId())
		}
		var got []string
		token := ""
		for range 10 {
			resp, err := e.network.ListNetworks(ctx, &hv.ListNetworksRequest{TenantId: e.prefix, PageSize: 2, PageToken: token})
			expectOK(err, "ListNetworks page_size=2")
			Expect(len(resp.GetNetworks())).To(BeNumerically("<=", 2), "ListNetworks page larger than page_size")
			for _, n := range resp.GetNetworks() {
				got = append(got, n.GetId())
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		Expect(got).To(ConsistOf(nets), "ListNetworks walk with page_size 2 over 5 networks")
		var subs []string
		for i := range 3 {
			subs = append(subs, e.createSubnet(ctx, nets[0], []string{"10.50.0.0/24", "10.50.1.0/24", "10.50.2.0/24"}[i]).GetId())
		}
		first, err := e.network.ListSubnets(ctx, &hv.ListSubnetsRequest{NetworkId: nets[0], PageSize: 2})
		expectOK(err, "ListSubnets page 1")
		second, err := e.network.ListSubnets(ctx, &hv.ListSubnetsRequest{NetworkId: nets[0], PageSize: 2, PageToken: first.GetNextPageToken()})
		expectOK(err, "ListSubnets page 2")
		var gotSubs []string
		for _, s := range append(first.GetSubnets(), second.GetSubnets()...) {
			gotSubs = append(gotSubs, s.GetId())
		}
		Expect(gotSubs).To(ConsistOf(subs), "ListSubnets walk with page_size 2 over 3 subnets")
		Expect(second.GetNextPageToken()).To(BeEmpty(), "the last ListSubnets page MUST have an empty next_page_token")
		var ports []string
		for range 3 {
			ports = append(ports, e.createPort(ctx, &hv.CreatePortRequest{NetworkId: nets[1]}).GetId())
		}
		p1, err := e.network.ListPorts(ctx, &hv.ListPortsRequest{NetworkId: nets[1], PageSize: 2})
		expectOK(err, "ListPorts page 1")
		p2, err := e.network.ListPorts(ctx, &hv.ListPortsRequest{NetworkId: nets[1], PageSize: 2, PageToken: p1.GetNextPageToken()})
		expectOK(err, "ListPorts page 2")
		var gotPorts []string
		for _, p := range append(p1.GetPorts(), p2.GetPorts()...) {
			gotPorts = append(gotPorts, p.GetId())
		}
		Expect(gotPorts).To(ConsistOf(ports), "ListPorts walk with page_size 2 over 3 ports")
	})
}
