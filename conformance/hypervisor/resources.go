package hypervisor

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// resources records what a spec created and deletes it in reverse order.
// A delete that finds the object already gone (NotFound) is fine: the spec
// may have deleted it itself.
type resources struct {
	mu    sync.Mutex
	items []resource
}

type resource struct {
	what   string
	delete func(ctx context.Context) error
}

// add records an object and how to delete it.
func (r *resources) add(what string, del func(ctx context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, resource{what: what, delete: del})
}

// cleanup deletes everything in reverse order of creation and returns the
// deletes that failed for a reason other than NotFound.
func (r *resources) cleanup(ctx context.Context) []error {
	r.mu.Lock()
	items := r.items
	r.items = nil
	r.mu.Unlock()
	var errs []error
	for i := len(items) - 1; i >= 0; i-- {
		err := items[i].delete(ctx)
		if err != nil && status.Code(err) != codes.NotFound {
			errs = append(errs, fmt.Errorf("clean up %s: %w", items[i].what, err))
		}
	}
	return errs
}
