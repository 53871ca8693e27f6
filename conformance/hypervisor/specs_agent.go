package hypervisor

import (
	"context"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// agentInstance creates an instance through AgentService (at AgentAddr) with
// an explicit id and records its forced delete.
func (e *env) agentInstance(ctx context.Context) *hv.Instance {
	GinkgoHelper()
	e.need(svcAgent+"DeleteInstance", svcAgent+"GetInstance")
	id := e.name("agent-inst")
	inst, err := e.agent.CreateInstance(ctx, &hv.AgentCreateInstanceRequest{
		InstanceId: id,
		Name:       id,
		Type:       hv.InstanceType_INSTANCE_TYPE_VM,
		Spec:       &hv.InstanceSpec{Image: e.image(ctx, hv.InstanceType_INSTANCE_TYPE_VM), CpuCores: 1, MemoryBytes: gib},
		Labels:     map[string]string{"conform": e.prefix},
	})
	expectOK(err, "AgentService.CreateInstance %s", id)
	e.res.add("agent instance "+id, func(ctx context.Context) error {
		_, err := e.agent.DeleteInstance(ctx, &hv.AgentDeleteInstanceRequest{InstanceId: id, Force: true})
		return err
	})
	Expect(inst.GetId()).To(Equal(id), "AgentService.CreateInstance MUST use the instance_id it is given")
	return inst
}

// agentWait polls AgentService.GetInstance until the instance is in state.
func (e *env) agentWait(ctx context.Context, id string, state hv.InstanceState) {
	GinkgoHelper()
	e.eventually(ctx, fmt.Sprintf("agent instance %s to reach %s", id, state), func(g Gomega) {
		inst, err := e.agent.GetInstance(ctx, &hv.AgentInstanceRequest{InstanceId: id})
		g.Expect(err).NotTo(HaveOccurred(), "AgentService.GetInstance %s", id)
		g.Expect(inst.GetState()).To(Equal(state), "agent instance %s is %s; expected %s", id, inst.GetState(), state)
	})
}

func (s *specs) agent() {
	s.it("[HV-AGT-001] AgentService CreateInstance with an explicit instance_id MUST create an instance that GetInstance and ListInstances of AgentService show", func(ctx context.Context, e *env) {
		inst := e.agentInstance(ctx)
		got, err := e.agent.GetInstance(ctx, &hv.AgentInstanceRequest{InstanceId: inst.GetId()})
		expectOK(err, "AgentService.GetInstance")
		Expect(got.GetName()).To(Equal(inst.GetName()))
		list, err := e.agent.ListInstances(ctx, &emptypb.Empty{})
		expectOK(err, "AgentService.ListInstances")
		var ids []string
		for _, i := range list.GetInstances() {
			ids = append(ids, i.GetId())
		}
		Expect(ids).To(ContainElement(inst.GetId()), "AgentService.ListInstances")
	})

	s.it("[HV-AGT-002] AgentService CreateInstance MUST refuse an instance_id that exists with AlreadyExists", func(ctx context.Context, e *env) {
		inst := e.agentInstance(ctx)
		dup, err := e.agent.CreateInstance(ctx, &hv.AgentCreateInstanceRequest{
			InstanceId: inst.GetId(), Name: e.name("dup"), Type: hv.InstanceType_INSTANCE_TYPE_VM,
			Spec: &hv.InstanceSpec{Image: inst.GetSpec().GetImage(), CpuCores: 1, MemoryBytes: gib},
		})
		if err == nil && dup.GetId() != "" && dup.GetId() != inst.GetId() {
			e.res.add("agent instance "+dup.GetId(), func(ctx context.Context) error {
				_, err := e.agent.DeleteInstance(ctx, &hv.AgentDeleteInstanceRequest{InstanceId: dup.GetId(), Force: true})
				return err
			})
		}
		expectCode(err, codes.AlreadyExists, "AgentService.CreateInstance with an existing instance_id")
	})

	s.it("[HV-AGT-003] AgentService StartInstance, RestartInstance and StopInstance MUST follow the instance state machine", func(ctx context.Context, e *env) {
		inst := e.agentInstance(ctx)
		id := inst.GetId()
		e.agentWait(ctx, id, hv.InstanceState_INSTANCE_STATE_STOPPED)
		_, err := e.agent.StopInstance(ctx, &hv.AgentStopInstanceRequest{InstanceId: id})
		expectCode(err, codes.FailedPrecondition, "AgentService.StopInstance of a STOPPED instance")
		_, err = e.agent.StartInstance(ctx, &hv.AgentInstanceRequest{InstanceId: id})
		expectOK(err, "AgentService.StartInstance")
		e.agentWait(ctx, id, hv.InstanceState_INSTANCE_STATE_RUNNING)
		_, err = e.agent.RestartInstance(ctx, &hv.AgentRestartInstanceRequest{InstanceId: id})
		expectOK(err, "AgentService.RestartInstance")
		e.agentWait(ctx, id, hv.InstanceState_INSTANCE_STATE_RUNNING)
		_, err = e.agent.StopInstance(ctx, &hv.AgentStopInstanceRequest{InstanceId: id, Force: true})
		expectOK(err, "AgentService.StopInstance force=true")
		e.agentWait(ctx, id, hv.InstanceState_INSTANCE_STATE_STOPPED)
	})

	s.it("[HV-AGT-004] AgentService GetInstanceStats MUST return stats naming the instance", func(ctx context.Context, e *env) {
		inst := e.agentInstance(ctx)
		e.agentWait(ctx, inst.GetId(), hv.InstanceState_INSTANCE_STATE_STOPPED)
		_, err := e.agent.StartInstance(ctx, &hv.AgentInstanceRequest{InstanceId: inst.GetId()})
		expectOK(err, "AgentService.StartInstance")
		e.agentWait(ctx, inst.GetId(), hv.InstanceState_INSTANCE_STATE_RUNNING)
		st, err := e.agent.GetInstanceStats(ctx, &hv.AgentInstanceRequest{InstanceId: inst.GetId()})
		expectOK(err, "AgentService.GetInstanceStats")
		Expect(st.GetInstanceId()).To(Equal(inst.GetId()), "instance_id")
		Expect(st.GetCollectedAt()).NotTo(BeNil(), "collected_at")
	})

	s.it("[HV-AGT-005] AgentService AttachConsole MUST take the instance id in the first message, accept a resize, and carry input to the guest and output back", func(ctx context.Context, e *env) {
		inst := e.agentInstance(ctx)
		e.agentWait(ctx, inst.GetId(), hv.InstanceState_INSTANCE_STATE_STOPPED)
		_, err := e.agent.StartInstance(ctx, &hv.AgentInstanceRequest{InstanceId: inst.GetId()})
		expectOK(err, "AgentService.StartInstance")
		e.agentWait(ctx, inst.GetId(), hv.InstanceState_INSTANCE_STATE_RUNNING)
		// Bounded by the wait timeout, so a guest that never echoes is
		// reported with what the console did show.
		cctx, cancel := context.WithTimeout(ctx, e.cfg.waitTimeout())
		defer cancel()
		stream, err := e.agent.AttachConsole(cctx)
		expectOK(err, "AgentService.AttachConsole")
		send := func(in *hv.AgentConsoleInput) {
			GinkgoHelper()
			expectOK(stream.Send(in), "AgentService.AttachConsole send")
		}
		send(&hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Data{Data: []byte(inst.GetId())}})
		send(&hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Resize{Resize: &hv.AgentConsoleResize{Width: 100, Height: 30}}})
		marker := e.name("marker")
		send(&hv.AgentConsoleInput{Input: &hv.AgentConsoleInput_Data{Data: []byte("echo " + marker + "\n")}})
		var seen strings.Builder
		for !strings.Contains(seen.String(), marker) {
			out, err := stream.Recv()
			expectOK(err, "AgentService.AttachConsole receive (so far %q)", seen.String())
			seen.Write(out.GetData())
		}
	})

	s.it("[HV-AGT-006] AgentService DeleteInstance MUST remove the instance, and a second delete MUST return NotFound", func(ctx context.Context, e *env) {
		inst := e.agentInstance(ctx)
		_, err := e.agent.DeleteInstance(ctx, &hv.AgentDeleteInstanceRequest{InstanceId: inst.GetId(), Force: true})
		expectOK(err, "AgentService.DeleteInstance")
		e.eventually(ctx, "AgentService.GetInstance to stop finding the deleted instance "+inst.GetId(), func(g Gomega) {
			_, err := e.agent.GetInstance(ctx, &hv.AgentInstanceRequest{InstanceId: inst.GetId()})
			g.Expect(err).To(HaveOccurred(), "AgentService.GetInstance after delete still finds the instance")
		})
		_, err = e.agent.GetInstance(ctx, &hv.AgentInstanceRequest{InstanceId: inst.GetId()})
		expectCode(err, codes.NotFound, "AgentService.GetInstance after delete")
		_, err = e.agent.DeleteInstance(ctx, &hv.AgentDeleteInstanceRequest{InstanceId: inst.GetId()})
		expectCode(err, codes.NotFound, "AgentService.DeleteInstance of a deleted instance")
	})
}
