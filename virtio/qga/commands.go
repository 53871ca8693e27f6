package qga

import "context"

// Ping checks that the agent answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.Call(ctx, "guest-ping", nil, nil)
}

// Info is the reply to guest-info.
type Info struct {
	Version  string    `json:"version"`
	Commands []Command `json:"supported_commands"`
}

// Command is one entry of Info.Commands.
type Command struct {
	Name            string `json:"name"`
	Enabled         bool   `json:"enabled"`
	SuccessResponse bool   `json:"success-response"`
}

// Enabled reports whether the agent lists name as enabled.
func (i *Info) Enabled(name string) bool {
	for _, c := range i.Commands {
		if c.Name == name {
			return c.Enabled
		}
	}
	return false
}

// Info returns the agent version and its commands.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var info Info
	if err := c.Call(ctx, "guest-info", nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// OSInfo is the reply to guest-get-osinfo.
type OSInfo struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	PrettyName    string `json:"pretty-name"`
	Version       string `json:"version"`
	VersionID     string `json:"version-id"`
	KernelRelease string `json:"kernel-release"`
	KernelVersion string `json:"kernel-version"`
	Machine       string `json:"machine"`
}

// GetOSInfo describes the guest operating system.
func (c *Client) GetOSInfo(ctx context.Context) (*OSInfo, error) {
	var info OSInfo
	if err := c.Call(ctx, "guest-get-osinfo", nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Interface is one entry of guest-network-get-interfaces.
type Interface struct {
	Name            string      `json:"name"`
	HardwareAddress string      `json:"hardware-address"`
	IPAddresses     []IPAddress `json:"ip-addresses"`
}

// IPAddress is one address of an Interface.
type IPAddress struct {
	Type    string `json:"ip-address-type"`
	Address string `json:"ip-address"`
	Prefix  int    `json:"prefix"`
}

// NetworkGetInterfaces lists the guest's network interfaces.
func (c *Client) NetworkGetInterfaces(ctx context.Context) ([]Interface, error) {
	var ifs []Interface
	if err := c.Call(ctx, "guest-network-get-interfaces", nil, &ifs); err != nil {
		return nil, err
	}
	return ifs, nil
}
