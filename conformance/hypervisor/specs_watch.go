package hypervisor

import (
	"context"
	"errors"
	"io"

	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// watchNodes opens WatchNodes(req) and returns its pump; the stream stops
// when the spec ends.
func (e *env) watchNodes(ctx context.Context, req *hv.WatchNodesRequest) *eventStream[*hv.NodeEvent] {
	wctx, cancel := context.WithCancel(ctx)
	stream, err := e.cluster.WatchNodes(wctx, req)
	if err != nil {
		cancel()
		expectOK(err, "WatchNodes")
	}
	s := pump(e, svcCluster+"WatchNodes", stream.Recv)
	e.res.add("node watch", func(context.Context) error { cancel(); s.wait(); return nil })
	return s
}

// liveNodeWatch opens a WatchNodes filtered to region and makes sure it is
// live by changing a probe node in region until its event arrives.
func (e *env) liveNodeWatch(ctx context.Context, region string) *eventStream[*hv.NodeEvent] {
	probe := e.readyNode(ctx, region)
	w := e.watchNodes(ctx, &hv.WatchNodesRequest{Region: region})
	flip := false
	w.live(func() {
		st := hv.NodeStatus_NODE_STATUS_READY
		if flip = !flip; flip {
			st = hv.NodeStatus_NODE_STATUS_MAINTENANCE
		}
		_, err := e.cluster.UpdateNodeStatus(ctx, &hv.UpdateNodeStatusRequest{NodeId: probe.GetId(), Status: st})
		expectOK(err, "UpdateNodeStatus of the probe node")
	}, func(ev *hv.NodeEvent) bool { return ev.GetNode().GetId() == probe.GetId() })
	w.drain()
	return w
}

func (s *specs) watch() {
	s.it("[HV-WAT-001] WatchNodes MUST stream ADDED, MODIFIED and DELETED events for a node, in order", func(ctx context.Context, e *env) {
		region := e.region()
		w := e.liveNodeWatch(ctx, region)
		n := e.registerNode(ctx, e.nodeRequest(region))
		_, err := e.cluster.UpdateNodeStatus(ctx, &hv.UpdateNodeStatusRequest{NodeId: n.GetId(), Status: hv.NodeStatus_NODE_STATUS_DRAINING})
		expectOK(err, "UpdateNodeStatus")
		_, err = e.cluster.DeregisterNode(ctx, &hv.DeregisterNodeRequest{NodeId: n.GetId()})
		expectOK(err, "DeregisterNode")
		var got []string
		for {
			ev := w.next(ctx, "a WatchNodes event for node "+n.GetId(), func(ev *hv.NodeEvent) bool { return ev.GetNode().GetId() == n.GetId() })
			if len(got) == 0 || got[len(got)-1] != ev.GetType().String() {
				got = append(got, ev.GetType().String())
			}
			if ev.GetType() == hv.EventType_EVENT_TYPE_DELETED {
				break
			}
		}
		expectOrder(got, "EVENT_TYPE_ADDED", "EVENT_TYPE_MODIFIED", "EVENT_TYPE_DELETED")
	})

	s.it("[HV-WAT-002] WatchNodes filtered by region MUST NOT deliver events of nodes in other regions", func(ctx context.Context, e *env) {
		region := e.region()
		w := e.liveNodeWatch(ctx, region)
		other := e.registerNode(ctx, e.nodeRequest(e.region()))
		mine := e.registerNode(ctx, e.nodeRequest(region))
		ev := w.next(ctx, "the ADDED event of node "+mine.GetId(), func(ev *hv.NodeEvent) bool {
			Expect(ev.GetNode().GetId()).NotTo(Equal(other.GetId()), "a watch on region %s got an event of node %s in region %s", region, other.GetId(), other.GetRegion())
			return ev.GetNode().GetId() == mine.GetId()
		})
		Expect(ev.GetType()).To(Equal(hv.EventType_EVENT_TYPE_ADDED), "first event of a new node")
		Expect(ev.GetNode().GetRegion()).To(Equal(region), "the event's node region")
	})

	s.it("[HV-WAT-003] WatchInstance MUST stream the instance's state changes in order and end after its DELETED event", func(ctx context.Context, e *env) {
		inst, _ := e.stoppedInstance(ctx)
		id := inst.GetId()
		wctx, cancel := context.WithCancel(ctx)
		stream, err := e.compute.WatchInstance(wctx, &hv.WatchInstanceRequest{InstanceId: id})
		if err != nil {
			cancel()
			expectOK(err, "WatchInstance")
		}
		w := pump(e, svcCompute+"WatchInstance", stream.Recv)
		e.res.add("instance watch", func(context.Context) error { cancel(); w.wait(); return nil })
		running := false
		w.live(func() {
			var err error
			if running {
				_, err = e.compute.StopInstance(ctx, &hv.StopInstanceRequest{InstanceId: id, Force: true})
				e.waitState(ctx, id, hv.InstanceState_INSTANCE_STATE_STOPPED)
			} else {
				_, err = e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: id})
				e.waitState(ctx, id, hv.InstanceState_INSTANCE_STATE_RUNNING)
			}
			expectOK(err, "toggle instance to make the watch show an event")
			running = !running
		}, func(*hv.InstanceEvent) bool { return true })
		if running {
			_, err := e.compute.StopInstance(ctx, &hv.StopInstanceRequest{InstanceId: id, Force: true})
			expectOK(err, "StopInstance")
			w.next(ctx, "a STOPPED event", func(ev *hv.InstanceEvent) bool {
				return ev.GetInstance().GetState() == hv.InstanceState_INSTANCE_STATE_STOPPED
			})
		}
		w.drain()
		_, err = e.compute.StartInstance(ctx, &hv.StartInstanceRequest{InstanceId: id})
		expectOK(err, "StartInstance")
		w.next(ctx, "a RUNNING event after StartInstance", func(ev *hv.InstanceEvent) bool {
			Expect(ev.GetInstance().GetId()).To(Equal(id), "WatchInstance delivered an event of another instance")
			return ev.GetInstance().GetState() == hv.InstanceState_INSTANCE_STATE_RUNNING
		})
		_, err = e.compute.StopInstance(ctx, &hv.StopInstanceRequest{InstanceId: id, Force: true})
		expectOK(err, "StopInstance")
		w.next(ctx, "a STOPPED event after StopInstance", func(ev *hv.InstanceEvent) bool {
			Expect(ev.GetType()).NotTo(Equal(hv.EventType_EVENT_TYPE_DELETED), "DELETED before the stop was reported")
			return ev.GetInstance().GetState() == hv.InstanceState_INSTANCE_STATE_STOPPED
		})
		_, err = e.compute.DeleteInstance(ctx, &hv.DeleteInstanceRequest{InstanceId: id})
		expectOK(err, "DeleteInstance")
		w.next(ctx, "the DELETED event", func(ev *hv.InstanceEvent) bool { return ev.GetType() == hv.EventType_EVENT_TYPE_DELETED })
		end := w.end(ctx, "WatchInstance to end after the DELETED event")
		Expect(errors.Is(end, io.EOF)).To(BeTrue(), "WatchInstance MUST end cleanly (EOF) after DELETED; it ended with %v", end)
	})

	s.it("[HV-WAT-004] WatchInstance of an unknown instance MUST fail with NotFound", func(ctx context.Context, e *env) {
		stream, err := e.compute.WatchInstance(ctx, &hv.WatchInstanceRequest{InstanceId: e.name("missing")})
		if err == nil {
			_, err = stream.Recv()
		}
		expectCode(err, codes.NotFound, "WatchInstance of an unknown instance")
	})
}
