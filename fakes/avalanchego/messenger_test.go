package avalanchego_test

import (
	"context"
	"testing"
	"time"

	vmpb "github.com/ava-labs/avalanchego/proto/pb/vm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	messengerpb "github.com/vmtestbed/vmtestbed/proto/messenger"
	"github.com/vmtestbed/vmtestbed/transport"
)

func TestMessengerNotify(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bn := transport.NewBufnet()
	node, err := avalanchego.NewNode(ctx, avalanchego.NodeConfig{Transport: bn})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := transport.Dial(bn, node.ServerAddr())
	if err != nil {
		t.Fatal(err)
	}
	client := messengerpb.NewMessengerClient(conn)
	for _, m := range []messengerpb.Message{messengerpb.Message_MESSAGE_BUILD_BLOCK, messengerpb.Message_MESSAGE_STATE_SYNC_FINISHED} {
		if _, err := client.Notify(ctx, &messengerpb.NotifyRequest{Message: m}); err != nil {
			t.Fatalf("notify %s: %v", m, err)
		}
	}
	for _, want := range []vmpb.Message{vmpb.Message_MESSAGE_BUILD_BLOCK, vmpb.Message_MESSAGE_STATE_SYNC_FINISHED} {
		if got := <-node.Notifications(); got != want {
			t.Fatalf("notification %s, want %s", got, want)
		}
	}
	_, err = client.Notify(ctx, &messengerpb.NotifyRequest{Message: 7})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown message: %v, want InvalidArgument", err)
	}
	// A plugin that notifies faster than the node builds never blocks.
	for range 100 {
		if _, err := client.Notify(ctx, &messengerpb.NotifyRequest{Message: messengerpb.Message_MESSAGE_BUILD_BLOCK}); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.Close()
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range node.Notifications() {
		n++
	}
	if n == 0 || n > 16 {
		t.Fatalf("%d notifications kept after 100 quick ones, want 1..16 (bounded, newest kept)", n)
	}
	if !avalanchego.UsesMessenger(41) || avalanchego.UsesMessenger(42) || avalanchego.UsesMessenger(0) {
		t.Fatal("UsesMessenger: protocols below 42 use Notify, 42 and up (and 0 = newest) WaitForEvent")
	}
}
