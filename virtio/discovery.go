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
)

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
// channelName and returns its source path (the socket libvirt binds on the host).
func SocketPathFromDomainXML(domain []byte, channelName string) (string, error) {
	var d domainXML
	if err := xml.Unmarshal(domain, &d); err != nil {
		return "", fmt.Errorf("discover channel %s: parse domain XML: %w", channelName, err)
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
			return "", fmt.Errorf("discover channel %s in domain %q: %w (type %q)", channelName, d.Name, ErrNotUnix, c.Type)
		}
		if c.Source.Path == "" {
			return "", fmt.Errorf("discover channel %s in domain %q: %w", channelName, d.Name, ErrNoSourcePath)
		}
		return c.Source.Path, nil
	}
	have := "none"
	if len(names) > 0 {
		have = strings.Join(names, ", ")
	}
	return "", fmt.Errorf("discover channel %s in domain %q: %w (virtio channels: %s)", channelName, d.Name, ErrNoSuchChannel, have)
}
