package virtio

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// Discovery errors, wrapped with the channel name and what the domain has.
var (
	ErrNoSuchChannel = errors.New("no such channel")
	ErrNotUnix       = errors.New("channel is not a unix socket")
	ErrNoSourcePath  = errors.New("channel has no source path")
	// ErrHostListens: the channel's source mode is 'connect', so QEMU dials the socket and the
	// host must listen on it (FindChannel, NewUnixListenChannel), not dial it.
	ErrHostListens = errors.New("channel source mode is 'connect': the host must listen on the socket, not dial it")
	ErrBadMode     = errors.New("channel source mode is neither 'bind' nor 'connect'")
)

// Source modes of a unix channel in domain XML.
const (
	ModeBind    = "bind"    // QEMU listens, the host dials (NewUnixChannel)
	ModeConnect = "connect" // QEMU dials, the host listens (NewUnixListenChannel)
)

// ChannelSource is where a channel's host end is: a unix socket path and who listens on it.
type ChannelSource struct {
	Path string
	Mode string // ModeBind or ModeConnect (an absent mode is bind, as libvirt defaults it)
}

// domainXML is the part of a libvirt domain description discovery reads.
type domainXML struct {
	Name     string       `xml:"name"`
	Channels []channelXML `xml:"devices>channel"`
}

type channelXML struct {
	Type   string `xml:"type,attr"`
	Source struct {
		Mode string `xml:"mode,attr"`
		Path string `xml:"path,attr"`
	} `xml:"source"`
	Target struct {
		Type string `xml:"type,attr"`
		Name string `xml:"name,attr"`
	} `xml:"target"`
}

// SocketPathFromDomainXML finds the <channel type='unix'> whose virtio target is named
// channelName and returns its source path (the socket libvirt binds on the host). A channel in
// mode 'connect' is an error wrapping ErrHostListens: use FindChannel.
func SocketPathFromDomainXML(domain []byte, channelName string) (string, error) {
	src, err := FindChannel(domain, channelName)
	if err != nil {
		return "", err
	}
	if src.Mode == ModeConnect {
		return "", fmt.Errorf("discover channel %s: %w (path %s)", channelName, ErrHostListens, src.Path)
	}
	return src.Path, nil
}

// FindChannel finds the <channel type='unix'> whose virtio target is named channelName and
// returns its source path and mode.
func FindChannel(domain []byte, channelName string) (ChannelSource, error) {
	var d domainXML
	if err := xml.Unmarshal(domain, &d); err != nil {
		return ChannelSource{}, fmt.Errorf("discover channel %s: parse domain XML: %w", channelName, err)
	}
	var names []string
	for _, c := range d.Channels {
		if c.Target.Type != "virtio" {
			continue
		}
		names = append(names, c.Target.Name)
		if c.Target.Name != channelName {
			continue
		}
		if c.Type != "unix" {
			return ChannelSource{}, fmt.Errorf("discover channel %s in domain %q: %w (type %q)", channelName, d.Name, ErrNotUnix, c.Type)
		}
		if c.Source.Path == "" {
			return ChannelSource{}, fmt.Errorf("discover channel %s in domain %q: %w", channelName, d.Name, ErrNoSourcePath)
		}
		mode := c.Source.Mode
		switch mode {
		case "":
			mode = ModeBind
		case ModeBind, ModeConnect:
		default:
			return ChannelSource{}, fmt.Errorf("discover channel %s in domain %q: %w (mode %q)", channelName, d.Name, ErrBadMode, c.Source.Mode)
		}
		return ChannelSource{Path: c.Source.Path, Mode: mode}, nil
	}
	have := "none"
	if len(names) > 0 {
		have = strings.Join(names, ", ")
	}
	return ChannelSource{}, fmt.Errorf("discover channel %s in domain %q: %w (virtio channels: %s)", channelName, d.Name, ErrNoSuchChannel, have)
}
