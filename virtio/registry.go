package virtio

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Registry errors.
var (
	ErrHandlerExists   = errors.New("handler already registered")
	ErrHandlerNotFound = errors.New("no such handler")
)

// Registry holds protocol handlers by name. It is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]ProtocolHandler
}

// NewRegistry returns a registry with "raw" and "json" registered.
func NewRegistry() *Registry {
	r := &Registry{m: map[string]ProtocolHandler{}}
	r.m["raw"] = NewRawHandler()
	r.m["json"] = NewJSONHandler()
	return r
}

// Register adds h under h.Name(); a name already taken is an error wrapping ErrHandlerExists.
func (r *Registry) Register(h ProtocolHandler) error {
	if h == nil || h.Name() == "" {
		return errors.New("register handler: nil handler or empty name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[h.Name()]; ok {
		return fmt.Errorf("register handler %q: %w", h.Name(), ErrHandlerExists)
	}
	r.m[h.Name()] = h
	return nil
}

// Lookup returns the handler registered as name; unknown names list what exists.
func (r *Registry) Lookup(name string) (ProtocolHandler, error) {
	r.mu.RLock()
	h, ok := r.m[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("look up handler %q: %w (have %v)", name, ErrHandlerNotFound, r.Names())
	}
	return h, nil
}

// Names lists the registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
