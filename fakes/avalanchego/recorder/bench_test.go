package recorder_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vmtestbed/vmtestbed/fakes/avalanchego"
	"github.com/vmtestbed/vmtestbed/fakes/avalanchego/recorder"
	"github.com/vmtestbed/vmtestbed/internal/buildbin"
)

// benchVersion: VM.Version calls to the reference VM binary over loopback
// TCP, through the recorder's wrapper (record=true) or straight; the
// difference is what recording costs a call (forwarding plus one JSON line).
func benchVersion(b *testing.B, record bool) {
	refvmBin, err := buildbin.Build("./cmd/refvm", "")
	if err != nil {
		b.Fatal(err)
	}
	plugin := refvmBin
	if record {
		vmtestbed, err := buildbin.Build("./cmd/vmtestbed", "")
		if err != nil {
			b.Fatal(err)
		}
		if plugin, err = recorder.WriteWrapper(b.TempDir(), vmtestbed, refvmBin); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	p, err := avalanchego.LaunchProcess(ctx, plugin, avalanchego.LaunchConfig{GracefulTimeout: 3 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Stop(ctx) })
	for b.Loop() {
		if _, err := p.VM.Version(ctx, &emptypb.Empty{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVMCallDirect(b *testing.B)          { benchVersion(b, false) }
func BenchmarkVMCallThroughRecorder(b *testing.B) { benchVersion(b, true) }
