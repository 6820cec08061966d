package bus

import (
	"slices"
	"sync"
	"testing"
)

func TestPublishReachesSubscribersUntilTheyLeave(t *testing.T) {
	var b Bus[int]
	b.Publish(0) // nobody yet: nothing to do
	var a, c []int
	stopA := b.Subscribe(func(v int) { a = append(a, v) })
	stopC := b.Subscribe(func(v int) { c = append(c, v) })
	b.Publish(1)
	stopA()
	stopA() // twice is harmless
	b.Publish(2)
	stopC()
	b.Publish(3)
	if !slices.Equal(a, []int{1}) || !slices.Equal(c, []int{1, 2}) || b.Subscribers() != 0 {
		t.Errorf("a %v, c %v, %d left; want [1], [1 2], 0", a, c, b.Subscribers())
	}
}

// Subscribing and leaving while others publish: run with -race.
func TestConcurrentPublishAndSubscribe(t *testing.T) {
	var b Bus[int]
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	stop := b.Subscribe(func(int) { mu.Lock(); got++; mu.Unlock() })
	for range 4 {
		wg.Go(func() {
			for i := range 1000 {
				b.Publish(i)
			}
		})
		wg.Go(func() {
			for range 100 {
				b.Subscribe(func(int) {})()
			}
		})
	}
	wg.Wait()
	stop()
	if got != 4000 {
		t.Errorf("the steady subscriber got %d events, want 4000", got)
	}
}
