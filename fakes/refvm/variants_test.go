package refvm

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"

	"github.com/vmtestbed/vmtestbed/internal/transport"
)

// Each broken variant's misbehaviour, observed from the node's side. The
// correct VM passes every one of these checks (TestVariantChecksPassOnCorrectVM),
// so each check really tells the variant apart.
var variantChecks = map[string]func(t *testing.T, variant string) (broken bool){
	VariantWrongGenesisID: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		resp := tv.init(nil)
		p, err := tv.vm.ParseBlock(ctxT(t), &vmpb.ParseBlockRequest{Bytes: resp.Bytes})
		if err != nil {
			t.Fatal(err)
		}
		return !bytes.Equal(p.Id, resp.LastAcceptedId)
	},
	VariantVerifyAcceptsInvalid: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		gen := tv.init(nil)
		blk := newBlock(idOf(gen.LastAcceptedId), 7, time.Unix(1700000100, 0), []Tx{{"k", "v"}})
		_, err := tv.vm.BlockVerify(ctxT(t), &vmpb.BlockVerifyRequest{Bytes: blk.Bytes})
		return err == nil
	},
	VariantNondeterministicParse: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		resp := tv.init(nil)
		a, err1 := tv.vm.ParseBlock(ctxT(t), &vmpb.ParseBlockRequest{Bytes: resp.Bytes})
		b, err2 := tv.vm.ParseBlock(ctxT(t), &vmpb.ParseBlockRequest{Bytes: resp.Bytes})
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		return !bytes.Equal(a.Id, b.Id)
	},
	VariantStaleLastAccepted: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		blk := tv.buildAccept("k", "v")
		st, err := tv.vm.SetState(ctxT(t), &vmpb.SetStateRequest{State: vmpb.State_STATE_NORMAL_OP})
		if err != nil {
			t.Fatal(err)
		}
		at, err := tv.vm.GetBlockIDAtHeight(ctxT(t), &vmpb.GetBlockIDAtHeightRequest{Height: 1})
		if err != nil {
			t.Fatal(err)
		}
		return !bytes.Equal(st.LastAcceptedId, blk.Id) || !bytes.Equal(at.BlkId, blk.Id)
	},
	VariantWrongProtocol: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		return tv.handshake.protocol != uint32(DefaultProtocol)
	},
	VariantHangShutdown: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := tv.vm.Shutdown(ctx, &emptypb.Empty{})
		return codeOf(err) == codes.DeadlineExceeded
	},
	VariantCrashBuild: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		tv.issue("k", "v")
		_, err := tv.vm.BuildBlock(ctxT(t), &vmpb.BuildBlockRequest{})
		if err == nil {
			return false
		}
		select {
		case code := <-tv.exits:
			if code != 2 || !strings.Contains(tv.stderr.String(), CrashMessage) {
				t.Fatalf("exit %d, stderr %q", code, tv.stderr)
			}
		case <-time.After(wait):
			t.Fatal("no exit")
		}
		// The plugin is gone: Serve returned and the VM no longer answers.
		select {
		case serr := <-tv.done:
			tv.done <- serr
		case <-time.After(wait):
			t.Fatal("Serve kept running after the crash")
		}
		_, err = tv.vm.Version(ctxT(t), &emptypb.Empty{})
		return err != nil
	},
	VariantGetBlockStatus: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		resp, err := tv.vm.GetBlock(ctxT(t), &vmpb.GetBlockRequest{Id: make([]byte, 32)})
		return err != nil || resp.Err != vmpb.Error_ERROR_NOT_FOUND
	},
	VariantNoAppError: func(t *testing.T, variant string) bool {
		tv := startVM(t, Config{Variant: variant})
		tv.init(nil)
		ctx := ctxT(t)
		node := make([]byte, 20)
		if _, err := tv.vm.AppRequest(ctx, &vmpb.AppRequestMsg{NodeId: node, RequestId: 1, Request: []byte("unknown")}); err != nil {
			t.Fatal(err)
		}
		// A ping after it: the node sees the pong without an error before it.
		if _, err := tv.vm.AppRequest(ctx, &vmpb.AppRequestMsg{NodeId: node, RequestId: 2, Request: []byte(PingRequest)}); err != nil {
			t.Fatal(err)
		}
		m := <-tv.node.sent
		return m.kind != "error"
	},
}

func TestEveryVariantHasACheck(t *testing.T) {
	if len(Variants()) != 9 || len(variantChecks) != len(Variants()) {
		t.Fatalf("%d variants, %d checks", len(Variants()), len(variantChecks))
	}
	for _, v := range Variants() {
		if variantChecks[v.Name] == nil || v.Description == "" {
			t.Fatalf("variant %q lacks a check or a description", v.Name)
		}
	}
}

func TestVariantsMisbehave(t *testing.T) {
	for _, v := range Variants() {
		t.Run(v.Name, func(t *testing.T) {
			if !variantChecks[v.Name](t, v.Name) {
				t.Fatalf("variant %s behaved correctly", v.Name)
			}
		})
	}
}

func TestVariantChecksPassOnCorrectVM(t *testing.T) {
	for _, v := range Variants() {
		t.Run(v.Name, func(t *testing.T) {
			if variantChecks[v.Name](t, "") {
				t.Fatalf("the correct VM fails the %s check", v.Name)
			}
		})
	}
}

func TestUnknownVariant(t *testing.T) {
	if err := Serve(ctxT(t), "bufnet:x", Config{Variant: "nope", Transport: transport.NewBufnet()}); err == nil {
		t.Fatal("Serve accepted an unknown variant")
	}
}
