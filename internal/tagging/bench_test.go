package tagging

import (
	"bytes"
	"os"
	"sync"
	"testing"
)

// scannerPool is how the handler is expected to use scanners.
var scannerPool = sync.Pool{New: func() any { return NewScanner(0) }}

// benchScan feeds page in 32 KiB chunks, as a response body streams past.
func benchScan(b *testing.B, page []byte) {
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		s := scannerPool.Get().(*Scanner)
		s.Reset(1 << 20)
		for rest := page; len(rest) > 0; {
			n := min(len(rest), 32<<10)
			s.Write(rest[:n])
			rest = rest[n:]
		}
		_ = s.Result()
		scannerPool.Put(s)
	}
}

func BenchmarkScan100KiB(b *testing.B) { benchScan(b, readFixture(b, "product-100k.html")) }

func BenchmarkScan7KiB(b *testing.B) { benchScan(b, readFixture(b, "page-7k.html")) }

func BenchmarkScanNoTagging(b *testing.B) {
	page := bytes.ReplaceAll(readFixture(b, "product-100k.html"), nosto, []byte("other_"))
	benchScan(b, page)
}

// BenchmarkParse100KiB is the parse alone, without the copy.
func BenchmarkParse100KiB(b *testing.B) {
	page := readFixture(b, "product-100k.html")
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		Parse(page)
	}
}

// BenchmarkBenchPage7KiB is the page of the load test (bench/load.sh).
func BenchmarkBenchPage7KiB(b *testing.B) {
	page, err := os.ReadFile("../../bench/www/page-7k.html")
	if err != nil {
		b.Skip(err)
	}
	benchScan(b, page)
}

// BenchmarkMemoNoTagging is a page without tagging through the memo, as
// the handler scans it: one search for "nosto_", shared with the parse.
func BenchmarkMemoNoTagging(b *testing.B) {
	page := bytes.ReplaceAll(readFixture(b, "product-100k.html"), nosto, []byte("other_"))
	m := NewMemo()
	s := NewScanner(1 << 20)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		s.Reset(1 << 20)
		s.Write(page)
		if _, hit := m.Result(s); hit {
			b.Fatal("a page without tagging was remembered")
		}
	}
}
