package virtio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSocketPathFromDomainXML(t *testing.T) {
	tests := []struct {
		file, channel string
		want          string
		wantErr       error
		errHas        []string
	}{
		{file: "domain-two-channels.xml", channel: "com.vmagent.sock", want: "/var/lib/libvirt/qemu/channel/target/6f1c3d0e/com.vmagent.sock"},
		{file: "domain-two-channels.xml", channel: "org.qemu.guest_agent.0", want: "/var/lib/libvirt/qemu/channel/target/domain-3-guest-a/org.qemu.guest_agent.0"},
		{file: "domain-two-channels.xml", channel: "com.other", wantErr: ErrNoSuchChannel, errHas: []string{"org.qemu.guest_agent.0, com.vmagent.sock", "guest-a"}},
		{file: "domain-pty-channel.xml", channel: "com.vmagent.sock", wantErr: ErrNotUnix, errHas: []string{`"pty"`}},
		{file: "domain-pty-channel.xml", channel: "org.qemu.guest_agent.0", wantErr: ErrNoSourcePath},
		{file: "domain-no-channels.xml", channel: "com.vmagent.sock", wantErr: ErrNoSuchChannel, errHas: []string{"virtio channels: none"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.channel, func(t *testing.T) {
			x, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := SocketPathFromDomainXML(x, tt.channel)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				for _, s := range append(tt.errHas, tt.channel) {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSocketPathFromDomainXMLGarbage(t *testing.T) {
	for _, in := range []string{"", "not xml", "<domain><devices><channel"} {
		if _, err := SocketPathFromDomainXML([]byte(in), "x"); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
