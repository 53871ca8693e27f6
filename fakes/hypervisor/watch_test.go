package hypervisor

import "testing"

func TestHubOverflowDropsOnlyTheSlowWatcher(t *testing.T) {
	h := newHub[int](2)
	slow := h.subscribe(nil)
	even := h.subscribe(func(v int) bool { return v%2 == 0 })
	for v := range 4 {
		h.publish(v)
		if v == 1 { // the even watcher keeps up
			<-even.ch
		}
	}
	// slow got 0,1 then overflowed on 2.
	var got []int
	for v := range slow.ch {
		got = append(got, v)
	}
	if len(got) != 2 || !slow.overflowed {
		t.Fatalf("slow watcher got %v overflowed=%v; want [0 1] and overflowed", got, slow.overflowed)
	}
	if v := <-even.ch; v != 2 || even.overflowed {
		t.Fatalf("even watcher got %d overflowed=%v", v, even.overflowed)
	}
	h.closeAll()
	if _, ok := <-even.ch; ok || even.overflowed {
		t.Fatal("closeAll must end watchers normally")
	}
	h.unsubscribe(even) // no-op, must not panic on a closed channel
}
