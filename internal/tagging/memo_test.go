package tagging

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func scanWith(m *Memo, page string, limit int) Page {
	s := NewScanner(limit)
	s.Write([]byte(page))
	got, _ := m.Result(s)
	return got
}

func memoPage(qty int) string {
	return `<div class="nosto_page_type">cart</div><div class="nosto_cart">` + strings.Replace(cartLine, ">2<", fmt.Sprintf(">%d<", qty), 1) + `</div>`
}

func TestMemoAnswersLikeParse(t *testing.T) {
	m := NewMemo()
	page := memoPage(2)
	first := scanWith(m, page, 1<<20)
	again := scanWith(m, page, 1<<20)
	if h, n := m.Stats(); h != 1 || n != 1 {
		t.Fatalf("hits %d misses %d, want 1 1", h, n)
	}
	if want := Parse([]byte(page)); !reflect.DeepEqual(first, want) || !reflect.DeepEqual(again, want) {
		t.Fatalf("memo %+v / %+v, Parse %+v", first, again, want)
	}
	// One byte more or less is another page.
	if got := scanWith(m, memoPage(3), 1<<20); got.Cart.Items[0].Quantity != 3 {
		t.Errorf("a changed page got the old answer: %+v", got.Cart.Items)
	}
	// The same bytes cut at a limit are not the same page: the cart is
	// open at the cut and must be left out.
	cut := len(page) - len("</div>")
	s := NewScanner(cut)
	s.Write([]byte(page[:cut]))
	whole := NewScanner(cut)
	whole.Write([]byte(page[:cut]))
	whole.MarkTruncated()
	a, _ := m.Result(s)
	b, remembered := m.Result(whole)
	if reflect.DeepEqual(a, b) || b.Cart != nil || !b.Truncated || remembered {
		t.Errorf("truncation ignored: %+v / %+v", a, b)
	}
}

func TestMemoSkipsPagesWithoutTaggingAndBigCarts(t *testing.T) {
	m := NewMemo()
	scanWith(m, "<p>no tagging here</p>", 1<<20)
	big := `<div class="nosto_cart">` + strings.Repeat(cartLine, memoMaxItems+1) + `</div>`
	for range 2 {
		if got := scanWith(m, big, 1<<20); len(got.Cart.Items) != memoMaxItems+1 {
			t.Fatalf("big cart: %d items", len(got.Cart.Items))
		}
	}
	if h, n := m.Stats(); h != 0 || n != 2 {
		t.Errorf("hits %d misses %d, want 0 2 (no tagging: not looked up; big: not kept)", h, n)
	}
}

// Run with -race: readers of one entry and writers of others at once.
func TestMemoConcurrent(t *testing.T) {
	m := NewMemo()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				qty := 1 + (g+i)%5
				if got := scanWith(m, memoPage(qty), 1<<20); got.Cart.Items[0].Quantity != qty {
					t.Errorf("quantity %d, want %d", got.Cart.Items[0].Quantity, qty)
					return
				}
			}
		}()
	}
	wg.Wait()
	if h, _ := m.Stats(); h == 0 {
		t.Error("no hits across 800 scans of 5 pages")
	}
}

// The memo's look for "nosto_" is shared with the parse; bytes written
// after a look without a hit must be looked at again.
func TestScannerLooksAgainAfterWrite(t *testing.T) {
	m := NewMemo()
	s := NewScanner(1 << 20)
	s.Write([]byte("<p>no tagging yet</p>"))
	if got, _ := m.Result(s); got.Cart != nil {
		t.Fatalf("cart from nothing: %+v", got)
	}
	s.Write([]byte(memoPage(4)))
	if got, _ := m.Result(s); got.Cart == nil || got.Cart.Items[0].Quantity != 4 {
		t.Fatalf("tagging written after the first look was missed: %+v", got)
	}
}
