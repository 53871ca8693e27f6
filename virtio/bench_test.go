package virtio

import (
	"context"
	"io"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// benchChannel returns a connected channel of the given kind whose far end runs serve.
func benchChannel(b *testing.B, kind string, serve func(io.ReadWriter)) Channel {
	b.Helper()
	var ch Channel
	if kind == "unix" {
		ch = NewUnixChannel("bench", startUnixServer(b, serve).path)
	} else {
		m, _ := ptyServer(b, serve)
		ch = NewPTYChannel("bench", m)
	}
	if err := ch.Connect(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ch.Close() })
	return ch
}

// reportLatency adds p50 and p99 in microseconds.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkRoundTrip: one line out, one line back, against an in-test echo agent.
func BenchmarkRoundTrip(b *testing.B) {
	for _, kind := range []string{"unix", "pty"} {
		b.Run(kind, func(b *testing.B) {
			ch := benchChannel(b, kind, lines(echoLine))
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				if err := ch.SendString(ctx, "ping\n"); err != nil {
					b.Fatal(err)
				}
				if _, err := ch.ReceiveLine(ctx); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportLatency(b, lat)
		})
	}
}

// BenchmarkTransfer1MiB: send 1 MiB, the agent reads all of it and answers "ok".
func BenchmarkTransfer1MiB(b *testing.B) {
	const size = 1 << 20
	sink := func(rw io.ReadWriter) {
		buf := make([]byte, size)
		for {
			if _, err := io.ReadFull(rw, buf); err != nil {
				return
			}
			if _, err := rw.Write([]byte("ok\n")); err != nil {
				return
			}
		}
	}
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, kind := range []string{"unix", "pty"} {
		b.Run(kind, func(b *testing.B) {
			ch := benchChannel(b, kind, sink)
			ctx := context.Background()
			b.SetBytes(size)
			for b.Loop() {
				if err := ch.Send(ctx, payload); err != nil {
					b.Fatal(err)
				}
				if line, err := ch.ReceiveLine(ctx); err != nil || line != "ok" {
					b.Fatalf("%q, %v", line, err)
				}
			}
		})
	}
}

// BenchmarkClients32: 32 JSON clients (16 unix, 16 pty) used by 32 goroutines at once, one
// client per goroutine; ns/op is per request across all of them.
func BenchmarkClients32(b *testing.B) {
	const n = 32
	clients := make([]*Client, n)
	for i := range clients {
		kind := "unix"
		if i%2 == 1 {
			kind = "pty"
		}
		clients[i] = NewClient(benchChannel(b, kind, lines(jsonAgent)), NewJSONHandler(), DefaultTimeout, NoReconnect)
	}
	var next atomic.Int32
	b.SetParallelism((n + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := clients[int(next.Add(1)-1)%n]
		for pb.Next() {
			if _, err := c.Request(context.Background(), []byte("ping")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
